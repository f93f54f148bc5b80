// Package kafkasrc reads GitHub audit events from Kafka topics (or any
// Kafka-protocol endpoint such as Azure Event Hubs) as a consumer group.
package kafkasrc

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config of the Kafka source. Zero values take the defaults noted.
type Config struct {
	Brokers  []string // host:port, required
	Topics   []string // required
	GroupID  string   // default "seatline-ingest"
	ClientID string   // default "seatline"
	// StartOffset applies when the group has no committed offset for a
	// partition: "first" (default: nothing streamed before is lost) or "last".
	StartOffset string

	SASLMechanism string // "", "plain", "scram-sha-256", "scram-sha-512"
	SASLUsername  string
	SASLPassword  string // never logged

	TLS         bool   // implied by TLSCAFile / TLSCertFile
	TLSCAFile   string // PEM bundle to trust instead of the system roots
	TLSCertFile string // client certificate (mTLS)
	TLSKeyFile  string
	TLSInsecure bool // skip certificate verification: only by explicit choice

	MinBytes int           // default 1: return as soon as anything is there
	MaxBytes int           // per fetch request, default 4 MiB; a larger message still arrives whole (KIP-74)
	MaxWait  time.Duration // broker long-poll, default 250 ms
	// SessionTimeout for the group (default 30 s): how long a killed worker
	// holds its partitions before the group moves them.
	SessionTimeout time.Duration
}

// Validate fills defaults and names the first invalid field.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("kafka-brokers: at least one host:port is required")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka-brokers: %q is not host:port", b)
		}
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("kafka-topics: at least one topic is required")
	}
	for _, t := range c.Topics {
		if t == "" || strings.ContainsAny(t, " /") {
			return fmt.Errorf("kafka-topics: %q is not a topic name", t)
		}
	}
	if c.GroupID == "" {
		c.GroupID = "seatline-ingest"
	}
	if c.ClientID == "" {
		c.ClientID = "seatline"
	}
	switch c.StartOffset {
	case "":
		c.StartOffset = "first"
	case "first", "last":
	default:
		return fmt.Errorf("kafka-start-offset: must be first or last, got %q", c.StartOffset)
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		c.SASLMechanism = strings.ToLower(c.SASLMechanism)
		if c.SASLUsername == "" {
			return fmt.Errorf("kafka-sasl-username: required with kafka-sasl-mechanism %s", c.SASLMechanism)
		}
		if c.SASLPassword == "" {
			return fmt.Errorf("kafka-sasl-password: required with kafka-sasl-mechanism %s", c.SASLMechanism)
		}
	default:
		return fmt.Errorf("kafka-sasl-mechanism: must be plain, scram-sha-256 or scram-sha-512, got %q", c.SASLMechanism)
	}
	if c.TLSCAFile != "" || c.TLSCertFile != "" {
		c.TLS = true
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("kafka-tls-cert and kafka-tls-key: give both or neither")
	}
	if c.MinBytes <= 0 {
		c.MinBytes = 1
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 4 << 20
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 250 * time.Millisecond
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 30 * time.Second
	}
	return nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecure} //nolint:gosec // only by explicit flag
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka-tls-ca: %s holds no PEM certificate", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka-tls-cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (c *Config) mechanism() (sasl.Mechanism, error) {
	switch c.SASLMechanism {
	case "plain":
		return plain.Mechanism{Username: c.SASLUsername, Password: c.SASLPassword}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.SASLUsername, c.SASLPassword)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.SASLUsername, c.SASLPassword)
	}
	return nil, nil
}

// Dialer is the connection set-up shared by the consumer, lag checks and
// test producers.
func (c *Config) Dialer() (*kafka.Dialer, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := c.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka-sasl-mechanism: %w", err)
	}
	return &kafka.Dialer{ClientID: c.ClientID, Timeout: 10 * time.Second, DualStack: true, TLS: tc, SASLMechanism: mech}, nil
}

// Transport is the Dialer's equivalent for kafka.Client and kafka.Writer.
func (c *Config) Transport() (*kafka.Transport, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := c.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka-sasl-mechanism: %w", err)
	}
	return &kafka.Transport{ClientID: c.ClientID, DialTimeout: 10 * time.Second, TLS: tc, SASL: mech}, nil
}
