package gcssrc_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/testenv"
)

// fatal runs the worker and requires it to stop with an *objsrc.FatalError
// whose message holds every one of want.
func fatal(t *testing.T, b *objsrctest.Bed, want ...string) string {
	t.Helper()
	logs, err := b.Run(t, b.Config(t), time.Minute)
	var fe *objsrc.FatalError
	if !errors.As(err, &fe) {
		t.Fatalf("run: %v, want a FatalError\n%s", err, logs)
	}
	if cli.ExitCode(err) != cli.ExitConfig {
		t.Errorf("exit code %d, want %d: the store refused before a record was read", cli.ExitCode(err), cli.ExitConfig)
	}
	t.Logf("the worker stopped: %v", err)
	for _, w := range want {
		if !strings.Contains(fe.Error(), w) {
			t.Errorf("error %q lacks %q", fe, w)
		}
	}
	return fe.Error()
}

// TestMissingBucket: a bucket fake-gcs-server does not have stops the
// worker at once, naming the flag and the bucket.
func TestMissingBucket(t *testing.T) {
	b := newBed(t, func(g *testenv.GCSBucket) []string {
		return []string{"--source", "gcs", "--gcs-bucket", "no-such-bucket", "--gcs-endpoint", g.Endpoint, "--gcs-anonymous"}
	})
	msg := fatal(t, b, `gcs-bucket: bucket "no-such-bucket" does not exist`)
	if !strings.HasPrefix(msg, "gcs-bucket: ") {
		t.Errorf("error %q does not start with the flag's name", msg)
	}
}

// gcsErrorServer is a loopback server answering like GCS for one bucket
// (fake-gcs-server checks no permissions): listing answers list(w, r),
// object reads read(w, r).
func gcsErrorServer(t *testing.T, list, read http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/storage/v1/b/audit-stream/o":
			list(w, r)
		case strings.HasPrefix(r.URL.Path, "/storage/v1/b/audit-stream/o/"):
			read(w, r)
		default:
			http.Error(w, "unexpected "+r.URL.String(), http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// errorBed is a bed whose worker reads bucket audit-stream from the GCS
// stand-in at url, anonymously.
func errorBed(t *testing.T, url string) *objsrctest.Bed {
	b := newBed(t, func(*testenv.GCSBucket) []string {
		return []string{"--source", "gcs", "--gcs-bucket", bucketName, "--gcs-endpoint", url, "--gcs-anonymous"}
	})
	return b
}

// jsonError writes GCS's JSON API error body.
func jsonError(code int, reason, message string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"errors":[{"message":%q,"domain":"global","reason":%q}]}}`, code, message, message, reason)
	}
}

const (
	principal  = "seatline-reader@acme-audit.iam.gserviceaccount.com"
	listDenied = principal + " does not have storage.objects.list access to the Google Cloud Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist)."
	getDenied  = principal + " does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist)."
	deniedKey  = "2026/11/03/00/01/5f1c0d2e-aaaa-bbbb-cccc-000000000001.json.log.gz"
)

// TestPermissionDenied: GCS's 403s, as Google sends them, stop the worker
// with the permissions and the role the worker's identity lacks, and what
// GCS said (which names the principal): for a listing and for an object
// read (a media download, whose error body the client leaves raw).
func TestPermissionDenied(t *testing.T) {
	t.Run("list", func(t *testing.T) {
		url := gcsErrorServer(t, jsonError(403, "forbidden", listDenied), jsonError(500, "backendError", "unreached"))
		fatal(t, errorBed(t, url), `gcs: permission denied on bucket "audit-stream"`, "storage.objects.list and storage.objects.get",
			"roles/storage.objectViewer", listDenied)
	})
	t.Run("read", func(t *testing.T) {
		list := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			fmt.Fprintf(w, `{"kind":"storage#objects","items":[{"name":%q,"bucket":"audit-stream","generation":"1762128060123456","size":"1234"}]}`, deniedKey)
		}
		read := jsonError(403, "forbidden", getDenied)
		fatal(t, errorBed(t, gcsErrorServer(t, list, read)), `gcs: permission denied on bucket "audit-stream" (object `+deniedKey+")", "roles/storage.objectViewer", getDenied)
	})
}

// TestCredentialsRejected: GCS's 401 (a revoked or expired access token)
// stops the worker, saying which credentials to check.
func TestCredentialsRejected(t *testing.T) {
	url := gcsErrorServer(t, jsonError(401, "authError", "Invalid Credentials"), jsonError(500, "backendError", "unreached"))
	fatal(t, errorBed(t, url), "gcs: credentials rejected (401 Invalid Credentials)", "--gcs-credentials-file", "GOOGLE_APPLICATION_CREDENTIALS", "workload identity")
}

// TestConfigMistakeExitsTwo: a configuration mistake in the GCS flags
// fails the worker's validation before anything is contacted, exit code
// 2, naming the flag.
func TestConfigMistakeExitsTwo(t *testing.T) {
	cfg, err := ingestd.ParseArgs("--source", "gcs", "--gcs-bucket", "acme-audit", "--gcs-anonymous", "--gcs-credentials-file", "/etc/seatline/gcs-key.json")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if cli.ExitCode(err) != cli.ExitConfig || !strings.Contains(err.Error(), "gcs-anonymous: ") {
		t.Errorf("Validate: %v (exit %d), want exit %d naming gcs-anonymous", err, cli.ExitCode(err), cli.ExitConfig)
	}
}
