// Package testenv starts the real servers that tests, the demo and the
// benchmark run against: a private clickhouse-server child process on free
// loopback ports (StartClickHouse) and an in-process Kafka broker from
// github.com/twmb/franz-go/pkg/kfake that segmentio/kafka-go clients reach
// over TCP (StartKafka), versitygw as the S3 server (StartS3), and for the
// cluster tests a ZooKeeper (StartZooKeeper, Debian's zookeeper package)
// with a two-shard ClickHouse cluster on it (StartClickHouseCluster, or
// NewCluster in a test).
//
// Everything listens on 127.0.0.1 only.
//
// Test binaries share one ClickHouse per binary through SharedClickHouse and
// give each test its own database with NewDatabase. A package using them
// stops the server from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testenv.Shutdown()
//		os.Exit(code)
//	}
//
// If the test binary dies without calling Shutdown (a panic, a -timeout, a
// signal), the kernel kills the clickhouse-server child on Linux
// (PR_SET_PDEATHSIG), so no server outlives the test binary. Its temporary
// directory is left behind in that case.
package testenv
