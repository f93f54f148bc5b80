// Package kafkasrc reads GitHub audit events from Kafka topics (or any
// Kafka-protocol endpoint such as Azure Event Hubs) as a consumer group.
package kafkasrc

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/flagval"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config of the Kafka source. Defaults() has the values the flags show.
type Config struct {
	Brokers  []string // host:port, required
	Topics   []string // required
	GroupID  string
	ClientID string
	// StartOffset applies when the group has no committed offset for a
	// partition: "first" (nothing streamed before is lost) or "last".
	StartOffset string

	SASLMechanism string // "", "plain", "scram-sha-256", "scram-sha-512"
	SASLUsername  string
	SASLPassword  string // never logged

	TLS         bool   // also implied by TLSCAFile / TLSCertFile
	TLSCAFile   string // PEM bundle to trust instead of the system roots
	TLSCertFile string // client certificate (mTLS)
	TLSKeyFile  string
	TLSInsecure bool // skip certificate verification: only by explicit choice

	MinBytes int           // return a fetch as soon as this much is there
	MaxBytes int           // per fetch request; a larger message still arrives whole (KIP-74)
	MaxWait  time.Duration // broker long-poll
	// SessionTimeout for the group: how long a killed worker holds its
	// partitions before the group moves them.
	SessionTimeout time.Duration
}

// Defaults are the Kafka source's defaults.
func Defaults() Config {
	return Config{GroupID: "seatline-ingest", ClientID: "seatline", StartOffset: "first",
		MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 250 * time.Millisecond, SessionTimeout: 30 * time.Second}
}

// Ranges of the Kafka flags.
var (
	maxBytesFlag       = flagval.Int{Name: "kafka-max-bytes", Min: 1 << 10, Max: 1 << 30}
	sessionTimeoutFlag = flagval.Duration{Name: "kafka-session-timeout", Min: time.Second, Max: time.Hour}
)

// topicName: Kafka's legal topic characters (and its length limit).
var topicName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// RegisterFlags binds the Kafka flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	*c = d
	fs.Var((*cli.List)(&c.Brokers), "kafka-brokers", "Kafka bootstrap brokers, comma-separated host:port")
	fs.Var((*cli.List)(&c.Topics), "kafka-topics", "topics holding the audit stream, comma-separated (letters, digits, '.', '_', '-')")
	fs.StringVar(&c.GroupID, "kafka-group", d.GroupID, "consumer group id (workers in one group share partitions)")
	fs.StringVar(&c.ClientID, "kafka-client-id", d.ClientID, "Kafka client id")
	fs.StringVar(&c.StartOffset, "kafka-start-offset", d.StartOffset, "where a new group starts: first or last")
	fs.StringVar(&c.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: none)")
	fs.StringVar(&c.SASLUsername, "kafka-sasl-username", "", "SASL username ($ConnectionString for Azure Event Hubs; with --kafka-sasl-mechanism)")
	fs.StringVar(&c.SASLPassword, "kafka-sasl-password", "", "SASL password (with --kafka-sasl-mechanism; never logged; prefer the environment variable)")
	fs.BoolVar(&c.TLS, "kafka-tls", false, "connect to Kafka with TLS")
	fs.StringVar(&c.TLSCAFile, "kafka-tls-ca", "", "PEM CA bundle for Kafka's certificate (implies --kafka-tls)")
	fs.StringVar(&c.TLSCertFile, "kafka-tls-cert", "", "client certificate PEM for mutual TLS (with --kafka-tls-key; implies --kafka-tls)")
	fs.StringVar(&c.TLSKeyFile, "kafka-tls-key", "", "client key PEM for mutual TLS (with --kafka-tls-cert)")
	fs.BoolVar(&c.TLSInsecure, "kafka-tls-insecure-skip-verify", false, "do not verify Kafka's certificate (with TLS; testing only)")
	fs.IntVar(&c.MaxBytes, maxBytesFlag.Name, d.MaxBytes, maxBytesFlag.Usage("bytes fetched per request; a larger message is still fetched whole (Kafka KIP-74)"))
	fs.DurationVar(&c.SessionTimeout, sessionTimeoutFlag.Name, d.SessionTimeout, sessionTimeoutFlag.Usage("group session timeout"))
}

// CheckValues names the first value given that is malformed or out of
// range, whatever --source says; it requires nothing and reads no file.
func (c *Config) CheckValues() error {
	for _, b := range c.Brokers {
		if err := flagval.HostPort("kafka-brokers", b, false); err != nil {
			return err
		}
	}
	for _, t := range c.Topics {
		if !topicName.MatchString(t) {
			return fmt.Errorf("kafka-topics: %q is not a topic name (1 to 249 letters, digits, '.', '_' or '-')", t)
		}
	}
	switch c.StartOffset {
	case "first", "last":
	default:
		return fmt.Errorf("kafka-start-offset: must be first or last, got %q", c.StartOffset)
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		return fmt.Errorf("kafka-sasl-mechanism: must be plain, scram-sha-256 or scram-sha-512, got %q", c.SASLMechanism)
	}
	switch {
	case c.MinBytes < 1:
		return fmt.Errorf("kafka-min-bytes: must be at least 1, got %d", c.MinBytes)
	case c.MaxWait <= 0:
		return fmt.Errorf("kafka-max-wait: must be positive, got %s", c.MaxWait)
	}
	return flagval.First(maxBytesFlag.Check(c.MaxBytes), sessionTimeoutFlag.Check(c.SessionTimeout))
}

// Validate names the first invalid field. It changes nothing and connects
// to nothing; it reads the TLS files, so a missing one is found here.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("kafka-brokers: at least one host:port is required")
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("kafka-topics: at least one topic is required")
	}
	if err := c.CheckValues(); err != nil {
		return err
	}
	if c.GroupID == "" {
		return fmt.Errorf("kafka-group: must not be empty")
	}
	if c.ClientID == "" {
		return fmt.Errorf("kafka-client-id: must not be empty")
	}
	if c.SASLMechanism != "" {
		if c.SASLUsername == "" {
			return fmt.Errorf("kafka-sasl-username: required with kafka-sasl-mechanism %s", c.SASLMechanism)
		}
		if c.SASLPassword == "" {
			return fmt.Errorf("kafka-sasl-password: required with kafka-sasl-mechanism %s", c.SASLMechanism)
		}
	} else if c.SASLUsername != "" || c.SASLPassword != "" {
		return fmt.Errorf("kafka-sasl-mechanism: required with kafka-sasl-username and kafka-sasl-password (plain, scram-sha-256 or scram-sha-512); without it they would not be sent")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("kafka-tls-cert and kafka-tls-key: give both or neither")
	}
	if c.TLSInsecure && !c.tlsOn() {
		return fmt.Errorf("kafka-tls-insecure-skip-verify: given without --kafka-tls, so it would not be used")
	}
	if _, err := c.tlsConfig(); err != nil {
		return err
	}
	return nil
}

// tlsOn: TLS asked for, or implied by a CA or a client certificate.
func (c *Config) tlsOn() bool { return c.TLS || c.TLSCAFile != "" || c.TLSCertFile != "" }

func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.tlsOn() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecure} //nolint:gosec // only by explicit flag
	if c.TLSCAFile != "" {
		pem, err := flagval.ReadFile("kafka-tls-ca", c.TLSCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka-tls-ca: %s holds no PEM certificate", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		certPEM, err := flagval.ReadFile("kafka-tls-cert", c.TLSCertFile)
		if err != nil {
			return nil, err
		}
		keyPEM, err := flagval.ReadFile("kafka-tls-key", c.TLSKeyFile)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("kafka-tls-cert, kafka-tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (c *Config) mechanism() (sasl.Mechanism, error) {
	switch strings.ToLower(c.SASLMechanism) {
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
