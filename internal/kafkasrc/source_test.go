package kafkasrc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/kafkasrc"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/source"
	"github.com/seatline/seatline/internal/testenv"
)

// roundTrip produces one message with cfg's security settings and reads it
// back through the Source, then checks the group's lag reaches 0.
func roundTrip(t *testing.T, k *testenv.Kafka, sec kafkasrc.Config) error {
	t.Helper()
	cfg := kafkasrc.Defaults()
	cfg.SASLMechanism, cfg.SASLUsername, cfg.SASLPassword = sec.SASLMechanism, sec.SASLUsername, sec.SASLPassword
	cfg.TLS, cfg.TLSCAFile, cfg.TLSInsecure = sec.TLS, sec.TLSCAFile, sec.TLSInsecure
	cfg.Brokers = k.Brokers()
	cfg.Topics = []string{"audit"}
	cfg.GroupID = "g-" + strings.ReplaceAll(t.Name(), "/", "-")
	cfg.SessionTimeout = 6 * time.Second
	if err := cfg.Validate(); err != nil {
		return err
	}
	tr, err := cfg.Transport()
	if err != nil {
		return err
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: "audit", Transport: tr, RequiredAcks: kafka.RequireOne,
		BatchTimeout: 5 * time.Millisecond, AllowAutoTopicCreation: true}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(`{"hello":1}`)}); err != nil {
		return err
	}
	src, err := kafkasrc.Open(cfg, source.Deps{Records: records.Defaults()})
	if err != nil {
		return err
	}
	defer src.Close()
	msg, err := src.Next(ctx)
	if err != nil {
		return err
	}
	if string(msg.Data) != `{"hello":1}` || !strings.HasPrefix(msg.Position(), "audit/") {
		t.Fatalf("got %q at %s", msg.Data, msg.Position())
	}
	if err := src.Commit(ctx, nil); err != nil {
		return err
	}
	if err := src.Commit(ctx, []ingest.Message{msg}); err != nil {
		return err
	}
	lag, err := src.Lag(ctx)
	if err != nil {
		return err
	}
	if lag != 0 {
		t.Fatalf("lag after commit = %d", lag)
	}
	return nil
}

func TestSASLMechanisms(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			k := testenv.NewKafka(t, kfake.EnableSASL(), kfake.Superuser(mech, "seatline", "pa55-word"))
			good := kafkasrc.Config{SASLMechanism: strings.ToLower(mech), SASLUsername: "seatline", SASLPassword: "pa55-word"}
			if err := roundTrip(t, k, good); err != nil {
				t.Fatalf("%s with the right password: %v", mech, err)
			}
			bad := good
			bad.SASLPassword = "wrong"
			err := roundTrip(t, k, bad)
			if err == nil {
				t.Fatalf("%s with a wrong password succeeded", mech)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestTLSWithCustomCA(t *testing.T) {
	dir := t.TempDir()
	caFile, serverTLS := selfSigned(t, dir)
	k := testenv.NewKafka(t, kfake.TLS(serverTLS))
	if err := roundTrip(t, k, kafkasrc.Config{TLSCAFile: caFile}); err != nil {
		t.Fatalf("TLS with the CA: %v", err)
	}
	// Without the CA the certificate is not trusted...
	if err := roundTrip(t, k, kafkasrc.Config{TLS: true}); err == nil {
		t.Fatal("TLS without the CA succeeded")
	}
	// ...unless verification is explicitly skipped.
	if err := roundTrip(t, k, kafkasrc.Config{TLS: true, TLSInsecure: true}); err != nil {
		t.Fatalf("TLS with skip-verify: %v", err)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	ok := func(f func(*kafkasrc.Config)) kafkasrc.Config {
		c := kafkasrc.Defaults()
		c.Brokers, c.Topics = []string{"h:1"}, []string{"a"}
		f(&c)
		return c
	}
	for _, tc := range []struct {
		cfg   kafkasrc.Config
		field string
	}{
		{ok(func(c *kafkasrc.Config) { c.Brokers = nil }), "kafka-brokers"},
		{ok(func(c *kafkasrc.Config) { c.Brokers = []string{"h:99999"} }), "kafka-brokers"},
		{ok(func(c *kafkasrc.Config) { c.Topics = nil }), "kafka-topics"},
		{ok(func(c *kafkasrc.Config) { c.Topics = []string{"a b"} }), "kafka-topics"},
		{ok(func(c *kafkasrc.Config) { c.StartOffset = "middle" }), "kafka-start-offset"},
		{ok(func(c *kafkasrc.Config) { c.SASLMechanism = "oauth" }), "kafka-sasl-mechanism"},
		{ok(func(c *kafkasrc.Config) { c.SASLMechanism = "plain" }), "kafka-sasl-username"},
		{ok(func(c *kafkasrc.Config) { c.TLSCertFile = "c.pem" }), "kafka-tls-cert"},
		{ok(func(c *kafkasrc.Config) { c.TLSCAFile = "/nonexistent/ca.pem" }), "kafka-tls-ca"},
		{ok(func(c *kafkasrc.Config) { c.SessionTimeout = 0 }), "kafka-session-timeout"},
		{ok(func(c *kafkasrc.Config) { c.Brokers = []string{"svc:PW-1@h:9092"} }), "kafka-brokers"},
		{ok(func(c *kafkasrc.Config) { c.Brokers = []string{"h:0"} }), "kafka-brokers"},
		{ok(func(c *kafkasrc.Config) { c.Topics = []string{strings.Repeat("t", 250)} }), "kafka-topics"},
		{ok(func(c *kafkasrc.Config) { c.ClientID = "" }), "kafka-client-id"},
		{ok(func(c *kafkasrc.Config) { c.SASLUsername, c.SASLPassword = "u", "p" }), "kafka-sasl-mechanism"},
		{ok(func(c *kafkasrc.Config) { c.TLSInsecure = true }), "kafka-tls-insecure-skip-verify"},
		{ok(func(c *kafkasrc.Config) { c.TLSCAFile = "/dev/zero" }), "kafka-tls-ca"},
		{ok(func(c *kafkasrc.Config) { c.MaxBytes = 1 << 31 }), "kafka-max-bytes"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%+v: got %v, want an error naming %s", tc.cfg, err, tc.field)
		} else if strings.Contains(err.Error(), "PW-1") {
			t.Errorf("the error echoes a password: %v", err)
		}
	}
}

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1 and
// returns its PEM path and the server's TLS config.
func selfSigned(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seatline-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
