package azblobsrc_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/timeline"
)

// TestBackfill: a --since/--until backfill of an Azurite container (read
// with its connection string) stores exactly the seat events of the days
// asked for, skips what is not an audit object, checkpoints every blob
// done under azblob:account/container/prefix/ with the ETag the upload
// returned, and a rerun reads nothing again.
func TestBackfill(t *testing.T) {
	b := newBed(t)
	objs, seats := genObjects(6, 40, 1, time.Date(2026, 11, 2, 23, 57, 0, 0, time.UTC)) // 23:57 … 00:02: two days
	later, _ := genObjects(3, 40, 2, time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC))     // after --until: not read
	b.upload(t, objs)
	b.upload(t, later)
	ctx := context.Background()
	if _, err := b.az.Put(ctx, "2026/11/03/00/00/README.txt", []byte("not an audit object")); err != nil {
		t.Fatal(err)
	}

	args := b.withConnectionString("--since", "2026-11-02", "--until", "2026-11-03")
	logs, err := b.run(t, args, 2*time.Minute)
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs)
	}
	if n := b.count(t, "SELECT count() FROM (SELECT DISTINCT document_id FROM seat_timeline)"); n != uint64(len(seats)) {
		t.Fatalf("timeline holds %d seat events, the objects of 2026-11-02..03 have %d", n, len(seats))
	}
	if n := b.count(t, "SELECT count() FROM seat_timeline"); n != uint64(len(seats)) {
		t.Errorf("timeline shows %d rows for %d events", n, len(seats))
	}
	source := b.az.Checkpoint("")
	cps, err := b.store.Checkpoints(ctx, source, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != len(objs) {
		t.Errorf("%d checkpoints under %s, want %d (the objects of the two days): %v", len(cps), source, len(objs), cps)
	}
	for _, o := range objs {
		cp := cps[o.key]
		if cp.State != timeline.CheckpointDone || cp.ETag != o.etag || cp.Lines != 40 || cp.Size != uint64(len(o.body)) {
			t.Errorf("checkpoint of %s = %+v, want done, 40 lines, ETag %s, size %d", o.key, cp, o.etag, len(o.body))
		}
	}

	raw := b.count(t, "SELECT count() FROM seat_events")
	logs, err = b.run(t, args, time.Minute)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, logs)
	}
	if n := b.count(t, "SELECT count() FROM seat_events"); n != raw {
		t.Errorf("rerun added %d rows", n-raw)
	}
	if !strings.Contains(logs, "objects_already_done=6") {
		t.Errorf("rerun should find all 6 objects done:\n%s", logs)
	}
}

// TestOperatorErrors: each mistake an operator can make with a real
// container stops the worker with an *objsrc.FatalError that says what to
// fix, and never shows the SAS signature or the account key; a SAS with
// read and list reads the container (the control).
func TestOperatorErrors(t *testing.T) {
	b := newBed(t)
	objs, seats := genObjects(2, 20, 3, time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC))
	b.upload(t, objs)

	sasURL := func(perms sas.ContainerPermissions, expiry time.Time) string {
		t.Helper()
		u, err := b.az.ContainerSAS(b.az.Name, perms, expiry)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	sigOf := func(u string) string {
		t.Helper()
		pu, err := url.Parse(u)
		if err != nil || pu.Query().Get("sig") == "" {
			t.Fatalf("no signature in %v (%v)", pu, err)
		}
		return pu.Query().Get("sig")
	}
	readList := sas.ContainerPermissions{Read: true, List: true}
	expired := sasURL(readList, time.Now().Add(-time.Minute))
	readOnly := sasURL(sas.ContainerPermissions{Read: true}, time.Now().Add(time.Hour))
	wrongKey := "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="

	t.Run("a SAS with read and list reads the container", func(t *testing.T) {
		logs, err := b.run(t, b.args("--azblob-container-url", sasURL(readList, time.Now().Add(time.Hour))), time.Minute)
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if n := b.count(t, "SELECT count() FROM (SELECT DISTINCT document_id FROM seat_timeline)"); n != uint64(len(seats)) {
			t.Errorf("timeline holds %d seat events, want %d", n, len(seats))
		}
	})

	for _, tc := range []struct {
		name   string
		args   []string
		want   []string // in the message, in order
		secret string   // never in the message
	}{
		{"missing container",
			[]string{"--azblob-container", "no-such-container", "--azblob-connection-string", b.az.ConnectionString()},
			[]string{"azblob-container: container \"no-such-container\" does not exist in storage account \"devstoreaccount1\""}, "Eby8vdM02"},
		{"expired SAS",
			[]string{"--azblob-container-url", expired},
			[]string{"the SAS expired at", "issue a new one"}, sigOf(expired)},
		{"SAS without list permission",
			[]string{"--azblob-container-url", readOnly},
			[]string{"permission denied on container \"audit-stream\"", "r (read) and l (list)", "Storage Blob Data Reader"}, sigOf(readOnly)},
		{"wrong account key",
			[]string{"--azblob-container", b.az.Name, "--azblob-connection-string", b.az.ConnectionStringWithKey(wrongKey)},
			[]string{"access to account \"devstoreaccount1\" refused", "check the account key in --azblob-connection-string"}, wrongKey[:12]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, err := b.run(t, b.args(tc.args...), time.Minute)
			var fe *objsrc.FatalError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want an objsrc.FatalError\n%s", err, logs)
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q", msg, w)
				}
				at += i + len(w)
			}
			for _, s := range []string{tc.secret, url.QueryEscape(tc.secret), "Eby8vdM02"} {
				if strings.Contains(msg, s) || strings.Contains(logs, s) {
					t.Errorf("the error or the log shows a secret (%q):\n%s\n%s", s, msg, logs)
				}
			}
			t.Logf("%s: %s", tc.name, msg)
		})
	}
}
