package cli

import (
	"flag"
	"time"

	"github.com/seatline/seatline/internal/timeline"
)

// ClickHouseFlags binds the ClickHouse connection flags that every binary
// shares, so they are named the same everywhere. databaseUsage says what
// the binary does with the database (the workers create it, seatctl does not).
func ClickHouseFlags(fs *flag.FlagSet, c *timeline.Config, databaseUsage string) {
	fs.Var((*List)(&c.Addrs), "clickhouse-addr", "ClickHouse native-protocol address(es), comma-separated host:port (default 127.0.0.1:9000)")
	fs.StringVar(&c.Database, "clickhouse-database", "seatline", databaseUsage)
	fs.StringVar(&c.Username, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", "", "ClickHouse password (never logged; prefer the environment variable)")
	fs.BoolVar(&c.TLS, "clickhouse-tls", false, "connect to ClickHouse with TLS (secure native port, usually 9440)")
	fs.StringVar(&c.TLSCAFile, "clickhouse-tls-ca", "", "PEM CA bundle for ClickHouse's certificate")
	fs.BoolVar(&c.TLSInsecure, "clickhouse-tls-insecure-skip-verify", false, "do not verify ClickHouse's certificate (testing only)")
	fs.StringVar(&c.Cluster, "clickhouse-cluster", "", "cluster name (remote_servers): create Replicated tables behind Distributed ones ON CLUSTER, and insert synchronously into every shard (empty: one server)")
	fs.DurationVar(&c.ReadTimeout, "clickhouse-read-timeout", 60*time.Second, "how long to wait for ClickHouse to answer")
}
