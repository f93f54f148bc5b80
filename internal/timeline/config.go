package timeline

import (
	"crypto/x509"
	"flag"
	"fmt"
	"time"

	"github.com/seatline/seatline/internal/flagval"
)

// Config says how to reach ClickHouse. Defaults() has the values the flags
// show.
type Config struct {
	Addrs       []string // host:port of the native protocol
	Database    string   // created if missing
	Username    string
	Password    string // never logged
	TLS         bool   // use TLS (ClickHouse's secure native port, usually 9440)
	TLSCAFile   string // PEM bundle to trust instead of the system roots
	TLSInsecure bool   // skip certificate verification: only by explicit choice
	// Cluster, when set, names the ClickHouse cluster (remote_servers) the
	// schema is created on: each table as a ReplicatedReplacingMergeTree
	// "<t>_local" behind a Distributed "<t>" (schema.ForCluster), DDL ON
	// CLUSTER, and inserts with insert_distributed_sync=1 so that an
	// acknowledged write is on its shard, not queued on the receiving node.
	Cluster     string
	DialTimeout time.Duration
	ReadTimeout time.Duration

	bound bool // bound to flags: validated as given, never filled in
}

// Defaults are the connection defaults.
func Defaults() Config {
	return Config{Addrs: []string{"127.0.0.1:9000"}, Database: "seatline", Username: "default",
		DialTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second}
}

// readTimeout bounds --clickhouse-read-timeout: the longest ClickHouse may
// take to send the next block of an answer.
var readTimeout = flagval.Duration{Name: "clickhouse-read-timeout", Min: time.Second, Max: time.Hour}

// dialTimeout bounds DialTimeout (not a flag).
var dialTimeout = flagval.Duration{Name: "clickhouse dial timeout", Min: 100 * time.Millisecond, Max: time.Minute}

// RegisterFlags binds the connection flags every binary shares, with
// Defaults. databaseUsage says what the binary does with the database
// (the workers create it, seatctl does not).
func (c *Config) RegisterFlags(fs *flag.FlagSet, databaseUsage string) {
	d := Defaults()
	c.Addrs, c.DialTimeout, c.bound = d.Addrs, d.DialTimeout, true
	fs.Var((*flagval.List)(&c.Addrs), "clickhouse-addr", "ClickHouse native-protocol address(es), comma-separated host:port")
	fs.StringVar(&c.Database, "clickhouse-database", d.Database, databaseUsage+"; letters, digits and _")
	fs.StringVar(&c.Username, "clickhouse-user", d.Username, "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", "", "ClickHouse password (never logged; prefer the environment variable)")
	fs.BoolVar(&c.TLS, "clickhouse-tls", false, "connect to ClickHouse with TLS (secure native port, usually 9440)")
	fs.StringVar(&c.TLSCAFile, "clickhouse-tls-ca", "", "PEM CA bundle for ClickHouse's certificate (with --clickhouse-tls)")
	fs.BoolVar(&c.TLSInsecure, "clickhouse-tls-insecure-skip-verify", false, "do not verify ClickHouse's certificate (with --clickhouse-tls; testing only)")
	fs.StringVar(&c.Cluster, "clickhouse-cluster", "", "cluster name (remote_servers): create Replicated tables behind Distributed ones ON CLUSTER, and insert synchronously into every shard (empty: one server)")
	fs.DurationVar(&c.ReadTimeout, "clickhouse-read-timeout", d.ReadTimeout, readTimeout.Usage("how long to wait for ClickHouse to answer"))
}

// orDefaults fills the fields a Config built in code left zero. A Config
// bound to flags is left as given: --clickhouse-database ” is a mistake
// to report, not a request for the default.
func (c Config) orDefaults() Config {
	if c.bound {
		return c
	}
	d := Defaults()
	if len(c.Addrs) == 0 {
		c.Addrs = d.Addrs
	}
	if c.Database == "" {
		c.Database = d.Database
	}
	if c.Username == "" {
		c.Username = d.Username
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	return c
}

// Validate names the first invalid field; it changes nothing and connects
// to nothing. It reads the CA file, so a missing or unreadable one is
// found here.
func (c *Config) Validate() error {
	if len(c.Addrs) == 0 {
		return fmt.Errorf("clickhouse-addr: at least one host:port is required")
	}
	for _, a := range c.Addrs {
		if err := flagval.HostPort("clickhouse-addr", a, false); err != nil {
			return err
		}
	}
	if c.Database == "" {
		return fmt.Errorf("clickhouse-database: must not be empty")
	}
	if err := flagval.Identifier("clickhouse-database", c.Database); err != nil {
		return err
	}
	if c.Cluster != "" {
		if err := flagval.Identifier("clickhouse-cluster", c.Cluster); err != nil {
			return err
		}
	}
	if c.Username == "" {
		return fmt.Errorf("clickhouse-user: must not be empty (ClickHouse's own is \"default\")")
	}
	if err := readTimeout.Check(c.ReadTimeout); err != nil {
		return err
	}
	if err := dialTimeout.Check(c.DialTimeout); err != nil {
		return err
	}
	if !c.TLS {
		switch {
		case c.TLSCAFile != "":
			return fmt.Errorf("clickhouse-tls-ca: given without --clickhouse-tls, so it would not be used; add --clickhouse-tls (ClickHouse's secure port is usually 9440)")
		case c.TLSInsecure:
			return fmt.Errorf("clickhouse-tls-insecure-skip-verify: given without --clickhouse-tls, so it would not be used")
		}
	}
	if c.TLSCAFile != "" {
		if _, err := c.caPool(); err != nil {
			return err
		}
	}
	return nil
}

// caPool reads --clickhouse-tls-ca.
func (c *Config) caPool() (*x509.CertPool, error) {
	pem, err := flagval.ReadFile("clickhouse-tls-ca", c.TLSCAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("clickhouse-tls-ca: %s holds no PEM certificate", c.TLSCAFile)
	}
	return pool, nil
}
