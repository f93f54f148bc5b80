package timeline_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/internal/timeline"
	"github.com/seatline/seatline/pkg/events"
	"github.com/seatline/seatline/schema"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Shutdown()
	os.Exit(code)
}

func open(t *testing.T) (*timeline.Store, *testenv.ClickHouse, string) {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	db := testenv.NewDatabase(t, ch)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ch, db
}

// migrated is a store on a fresh, migrated database.
func migrated(t *testing.T) *timeline.Store {
	t.Helper()
	s, _, _ := open(t)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	s, ch, db := open(t)
	ctx := context.Background()
	// Three workers starting at once, then a restart.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: db})
			if err != nil {
				errs <- err
				return
			}
			defer w.Close()
			errs <- w.Migrate(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != migs[len(migs)-1].Version {
		t.Fatalf("schema version %d, want %d", v, migs[len(migs)-1].Version)
	}
	for _, table := range []string{"seat_events", "ingest_errors", "seat_timeline", "dead_letters", "seat_state"} {
		var n uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: n=%d err=%v", table, n, err)
		}
	}
}

func TestOpenCreatesDatabase(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	name := "t_created_by_open"
	ctx := context.Background()
	_ = ch.DropDatabase(ctx, name)
	t.Cleanup(func() { _ = ch.DropDatabase(ctx, name) })
	s, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRoundTripAndEnrichmentSupersedes(t *testing.T) {
	s, _, _ := open(t)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.UTC)
	ev := events.Event{DocumentID: "d1", Timestamp: ts, Action: "copilot.cfb_seat_added", Transition: events.TransitionAssigned,
		Org: "acme", User: "alice", UserID: 7, Raw: []byte(`{"_document_id":"d1"}`)}
	row := timeline.NewRow(ev, "kafka", "audit/0/1", time.Now())
	if row.Enrichment != timeline.EnrichmentPending {
		t.Fatalf("seat change should start pending, got %s", row.Enrichment)
	}
	dl := timeline.NewDeadLetter("kafka", "audit/0/2", "malformed_json", "bad", []byte("{x"), time.Now())
	if err := s.Write(ctx, []timeline.Row{row, row}, []timeline.DeadLetter{dl, dl}); err != nil {
		t.Fatal(err)
	}
	// An enriched version supersedes; a later redelivery of the raw event does not.
	enriched := row
	enriched.Enrichment, enriched.Version = timeline.EnrichmentEnriched, uint64(time.Now().UnixMilli())
	if err := s.Write(ctx, []timeline.Row{enriched}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []timeline.Row{row}, nil); err != nil {
		t.Fatal(err)
	}
	var n uint64
	var state string
	var ms uint64
	if err := s.Conn().QueryRow(ctx, "SELECT count(), any(toString(enrichment)), any(event_ms) FROM seat_timeline").Scan(&n, &state, &ms); err != nil {
		t.Fatal(err)
	}
	if n != 1 || state != "enriched" || ms != uint64(ts.UnixMilli()) {
		t.Fatalf("got %d rows, state %s, ms %d", n, state, ms)
	}
	if err := s.Conn().QueryRow(ctx, "SELECT count() FROM dead_letters").Scan(&n); err != nil || n != 1 {
		t.Fatalf("dead letters %d, %v", n, err)
	}
}

func TestUnreachableSaysWhatToDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = timeline.Open(ctx, timeline.Config{Addrs: []string{addr}, Password: "s3cret-pw"})
	var un *timeline.UnavailableError
	if !errors.As(err, &un) {
		t.Fatalf("want UnavailableError, got %T %v", err, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot reach ClickHouse at "+addr) || !strings.Contains(msg, "is clickhouse-server running?") {
		t.Errorf("unhelpful error: %s", msg)
	}
	if strings.Contains(msg, "s3cret-pw") {
		t.Errorf("password in error: %s", msg)
	}
}

// A cluster name the server does not know says where clusters are defined.
func TestUnknownClusterSaysWhatToDo(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := timeline.Open(ctx, timeline.Config{Addrs: []string{ch.Addr()}, Database: "seatline_no_cluster", Cluster: "nope"})
	if err == nil || !strings.Contains(err.Error(), "Requested cluster 'nope' not found") || !strings.Contains(err.Error(), "remote_servers") {
		t.Fatalf("unhelpful error: %v", err)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	with := func(f func(c *timeline.Config)) timeline.Config {
		c := timeline.Defaults()
		f(&c)
		return c
	}
	if c := timeline.Defaults(); c.Validate() != nil {
		t.Fatalf("defaults: %v", c.Validate())
	}
	for _, tc := range []struct {
		cfg   timeline.Config
		field string
	}{
		{with(func(c *timeline.Config) { c.Addrs = []string{"nohost"} }), "clickhouse-addr"},
		{with(func(c *timeline.Config) { c.Addrs = []string{"127.0.0.1:99999"} }), "clickhouse-addr"},
		{with(func(c *timeline.Config) { c.Addrs = []string{"127.0.0.1:0"} }), "clickhouse-addr"},
		{with(func(c *timeline.Config) { c.Addrs = []string{":9000"} }), "clickhouse-addr"},
		{with(func(c *timeline.Config) { c.Addrs = nil }), "clickhouse-addr"},
		{with(func(c *timeline.Config) { c.Database = "" }), "clickhouse-database"},
		{with(func(c *timeline.Config) { c.Database = "a.b" }), "clickhouse-database"},
		{with(func(c *timeline.Config) { c.Database = "seat-line" }), "clickhouse-database"},
		{with(func(c *timeline.Config) { c.Username = "" }), "clickhouse-user"},
		{with(func(c *timeline.Config) { c.ReadTimeout = 0 }), "clickhouse-read-timeout"},
		{with(func(c *timeline.Config) { c.ReadTimeout = -time.Second }), "clickhouse-read-timeout"},
		{with(func(c *timeline.Config) { c.ReadTimeout = 2 * time.Hour }), "clickhouse-read-timeout"},
		{with(func(c *timeline.Config) { c.TLS, c.TLSCAFile = true, "/does/not/exist" }), "clickhouse-tls-ca"},
		{with(func(c *timeline.Config) { c.TLS, c.TLSCAFile = true, ca }), "clickhouse-tls-ca"},
		{with(func(c *timeline.Config) { c.TLS, c.TLSCAFile = true, "/dev/null" }), "clickhouse-tls-ca"},
		{with(func(c *timeline.Config) { c.TLSCAFile = ca }), "clickhouse-tls-ca"},
		{with(func(c *timeline.Config) { c.TLSInsecure = true }), "clickhouse-tls-insecure-skip-verify"},
		{with(func(c *timeline.Config) { c.Cluster = "a b" }), "clickhouse-cluster"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%+v: got %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
}

// A password written into the address is never echoed.
func TestAddressPasswordNotEchoed(t *testing.T) {
	for _, addr := range []string{"default:PW-1234@host:9000", "PW-1234@host:9000", "u:PW-1234@127.0.0.1:99999"} {
		c := timeline.Defaults()
		c.Addrs = []string{addr}
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "clickhouse-addr:") || strings.Contains(err.Error(), "PW-1234") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// The version is read at Open and agrees with what the server reports in
// SQL; 18.16 predates server-side query parameters.
func TestServerVersionReadAtOpen(t *testing.T) {
	s, _, _ := open(t)
	v := s.Server()
	var sqlVersion string
	if err := s.Conn().QueryRow(context.Background(), "SELECT version()").Scan(&sqlVersion); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d.%d.%d.", v.Major, v.Minor, v.Patch); !strings.HasPrefix(sqlVersion+".", want) {
		t.Errorf("handshake says %s, version() says %s", v, sqlVersion)
	}
	if v.Revision == 0 {
		t.Errorf("no protocol revision: %s", v)
	}
	if v.Major < 22 && v.HasServerParams() {
		t.Errorf("%s: server-side parameters claimed before 22.8", v)
	}
	t.Logf("server: %s, server-side parameters: %v", v, v.HasServerParams())
	for _, c := range []struct {
		rev  uint64
		want bool
	}{{54412, false}, {54456, false}, {54459, true}, {54460, true}} {
		if got := (timeline.ServerVersion{Revision: c.rev}).HasServerParams(); got != c.want {
			t.Errorf("revision %d: HasServerParams %v, want %v", c.rev, got, c.want)
		}
	}
}
