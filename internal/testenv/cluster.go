package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ClusterOptions configures StartClickHouseCluster.
type ClusterOptions struct {
	Name      string     // the cluster's name in remote_servers; default "seatline"
	Shards    int        // one server per shard; default 2
	ZooKeeper *ZooKeeper // required: Replicated tables and ON CLUSTER DDL
	Logf      func(string, ...any)
}

// ClickHouseCluster is a set of private servers forming one ClickHouse
// cluster of Shards shards with one replica each, sharing a ZooKeeper: the
// smallest set-up on which ReplicatedReplacingMergeTree, Distributed tables
// and ON CLUSTER DDL really run.
type ClickHouseCluster struct {
	Name  string
	Nodes []*ClickHouse // Nodes[i] is shard i+1
}

// StartClickHouseCluster starts the servers, each configured with the whole
// cluster in remote_servers, the ZooKeeper, and macros {shard} and {replica}.
func StartClickHouseCluster(ctx context.Context, opt ClusterOptions) (*ClickHouseCluster, error) {
	if opt.ZooKeeper == nil {
		return nil, errors.New("testenv: StartClickHouseCluster needs a ZooKeeper")
	}
	if opt.Name == "" {
		opt.Name = "seatline"
	}
	if opt.Shards <= 0 {
		opt.Shards = 2
	}
	bin, binArgs, err := findClickHouse()
	if err != nil {
		return nil, err
	}
	// Every member must know every other's native port before any starts.
	ports, err := freePorts(3 * opt.Shards)
	if err != nil {
		return nil, fmt.Errorf("testenv: picking free ports: %w", err)
	}
	var shards strings.Builder
	for i := range opt.Shards {
		fmt.Fprintf(&shards, "      <shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>%d</port></replica></shard>\n", ports[3*i])
	}
	cl := &ClickHouseCluster{Name: opt.Name}
	for i := range opt.Shards {
		c, err := newClickHouse(bin, binArgs, ClickHouseOptions{Logf: opt.Logf})
		if err != nil {
			cl.Close()
			return nil, err
		}
		c.tcpPort, c.httpPort, c.interPort = ports[3*i], ports[3*i+1], ports[3*i+2]
		c.extra = fmt.Sprintf(`  <remote_servers>
    <%[1]s>
%[2]s    </%[1]s>
  </remote_servers>
  <zookeeper><node><host>127.0.0.1</host><port>%[3]d</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  <macros><shard>%02[4]d</shard><replica>node%[4]d</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
`, opt.Name, shards.String(), opt.ZooKeeper.Port(), i+1)
		cl.Nodes = append(cl.Nodes, c)
		c.mu.Lock()
		err = c.start(ctx, false)
		c.mu.Unlock()
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("testenv: cluster member %d: %w", i+1, err)
		}
	}
	// Ready means a ZooKeeper session too: the first ON CLUSTER statement
	// must not race the session's set-up.
	for i, c := range cl.Nodes {
		for {
			_, err := c.Query(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'")
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				cl.Close()
				return nil, fmt.Errorf("testenv: cluster member %d has no ZooKeeper session: %w", i+1, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return cl, nil
}

// Close stops every member and removes their directories.
func (cl *ClickHouseCluster) Close() error {
	var errs []error
	for _, c := range cl.Nodes {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// clusterConfig is the config.xml fragment of a cluster member ("" otherwise).
func (c *ClickHouse) clusterConfig() string {
	if c.extra == "" {
		return ""
	}
	return fmt.Sprintf("  <interserver_http_host>127.0.0.1</interserver_http_host>\n  <interserver_http_port>%d</interserver_http_port>\n%s", c.interPort, c.extra)
}
