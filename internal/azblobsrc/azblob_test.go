package azblobsrc_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/objsrc/objsrctest"
)

// TestOperatorErrors: each mistake an operator can make with a real
// container stops the worker with an *objsrc.FatalError that says what to
// fix, and never shows the SAS signature or the account key; a SAS with
// read and list reads the container (the control).
func TestOperatorErrors(t *testing.T) {
	az := newContainer(t)
	b := objsrctest.NewBed(t, az)
	exp := objsrctest.NewExpect()
	b.Upload(t, objsrctest.GenObjects("", 2, 20, 3, time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC), 0.3, exp))
	run := func(t *testing.T, args ...string) (string, error) {
		return b.Run(t, b.Parse(t, b.BaseArgs(args...)), time.Minute)
	}

	sasURL := func(perms sas.ContainerPermissions, expiry time.Time) string {
		t.Helper()
		u, err := az.ContainerSAS(az.Name, perms, expiry)
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
		logs, err := run(t, "--azblob-container-url", sasURL(readList, time.Now().Add(time.Hour)))
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		b.CheckExact(t, exp)
	})

	for _, tc := range []struct {
		name   string
		args   []string
		want   []string // in the message, in order
		secret string   // never in the message
	}{
		{"missing container",
			[]string{"--azblob-container", "no-such-container", "--azblob-connection-string", az.ConnectionString()},
			[]string{"azblob-container: container \"no-such-container\" does not exist in storage account \"devstoreaccount1\""}, "Eby8vdM02"},
		{"expired SAS",
			[]string{"--azblob-container-url", expired},
			[]string{"the SAS expired at", "issue a new one"}, sigOf(expired)},
		{"SAS without list permission",
			[]string{"--azblob-container-url", readOnly},
			[]string{"permission denied on container \"audit-stream\"", "r (read) and l (list)", "Storage Blob Data Reader"}, sigOf(readOnly)},
		{"wrong account key",
			[]string{"--azblob-container", az.Name, "--azblob-connection-string", az.ConnectionStringWithKey(wrongKey)},
			[]string{"access to account \"devstoreaccount1\" refused", "check the account key in --azblob-connection-string"}, wrongKey[:12]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, err := run(t, tc.args...)
			var fe *objsrc.FatalError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want an objsrc.FatalError\n%s", err, logs)
			}
			if cli.ExitCode(err) != cli.ExitConfig {
				t.Errorf("exit code %d, want %d: the store refused before a record was read", cli.ExitCode(err), cli.ExitConfig)
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
