package gcssrc_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/testenv"
)

// account is a service account of the test: its key file, a loopback
// token endpoint that checks the key's signed assertions (the key's
// token_uri), and a loopback proxy in front of fake-gcs-server that lets
// through only requests bearing the token the endpoint issued (the
// emulator itself checks no credentials).
type account struct {
	keyFile  string
	endpoint string       // the proxy: --gcs-endpoint
	grants   atomic.Int32 // tokens issued
	refused  atomic.Int32 // requests the proxy refused
	passed   atomic.Int32 // requests the proxy let through
}

const (
	saEmail = "seatline-reader@acme-audit.iam.gserviceaccount.com"
	token   = "ya29.seatline-test-token"
)

// newAccount makes a service account whose token endpoint answers
// tokenStatus (200: a token; otherwise the OAuth error Google sends for a
// deleted key).
func newAccount(t *testing.T, gcsEndpoint string, tokenStatus int) *account {
	t.Helper()
	a := &account{}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var tokenURL string
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.checkAssertion(r, &key.PublicKey, tokenURL); err != nil {
			t.Errorf("token endpoint: %v", err)
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if tokenStatus != http.StatusOK {
			w.WriteHeader(tokenStatus)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return
		}
		a.grants.Add(1)
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, token)
	}))
	t.Cleanup(tokens.Close)
	tokenURL = tokens.URL + "/token"

	target, err := url.Parse(gcsEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	forward := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			a.refused.Add(1)
			jsonError(401, "authError", "Invalid Credentials")(w, r)
			return
		}
		a.passed.Add(1)
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	a.endpoint = proxy.URL

	keyJSON, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "acme-audit", "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": saEmail, "client_id": "100000000000000000001",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.keyFile = filepath.Join(t.TempDir(), "seatline-reader.json")
	if err := os.WriteFile(a.keyFile, keyJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// checkAssertion checks a token request as Google's endpoint does: a JWT
// bearer grant signed by the account's key, for this endpoint, asking for
// a Cloud Storage scope.
func (a *account) checkAssertion(r *http.Request, pub *rsa.PublicKey, tokenURL string) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return fmt.Errorf("grant_type %q", g)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), claims, func(tok *jwt.Token) (any, error) {
		if _, ok := tok.Method.(*jwt.SigningMethodRSA); !ok {
			return nil, fmt.Errorf("signed with %v", tok.Header["alg"])
		}
		return pub, nil
	}); err != nil {
		return fmt.Errorf("assertion: %w", err)
	}
	scope, _ := claims["scope"].(string)
	if claims["iss"] != saEmail || claims["aud"] != tokenURL || !strings.Contains(scope, "devstorage") {
		return fmt.Errorf("assertion claims %v", claims)
	}
	return nil
}

// TestKeyFile: with --gcs-credentials-file the worker signs an assertion
// with the key, trades it at the key's token_uri for an access token and
// reads the bucket with it: every request the store saw bore the token.
func TestKeyFile(t *testing.T) {
	var a *account
	b := newBed(t, func(g *testenv.GCSBucket) []string {
		a = newAccount(t, g.Endpoint, http.StatusOK)
		return []string{"--source", "gcs", "--gcs-bucket", bucketName, "--gcs-endpoint", a.endpoint, "--gcs-credentials-file", a.keyFile}
	})
	exp := objsrctest.NewExpect()
	b.Upload(t, objsrctest.GenObjects("", 3, 100, 3, time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC), 0.3, exp))
	logs, err := b.Run(t, b.Config(t), 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.CheckExact(t, exp)
	if a.grants.Load() == 0 || a.passed.Load() < 4 || a.refused.Load() != 0 {
		t.Errorf("tokens issued %d, requests with the token %d, without %d: want ≥1, ≥4 (listings and 3 reads), 0",
			a.grants.Load(), a.passed.Load(), a.refused.Load())
	}
	if !strings.Contains(logs, "credentials=\"key file "+a.keyFile+"\"") {
		t.Errorf("start-up log does not say where the credentials come from:\n%s", logs)
	}
	if strings.Contains(logs, token) || strings.Contains(logs, "PRIVATE KEY") {
		t.Errorf("the log holds the token or the key:\n%s", logs)
	}
}

// TestApplicationDefaultCredentials: without --gcs-credentials-file the
// key GOOGLE_APPLICATION_CREDENTIALS names is used (the ADC chain's first
// step; GKE's workload identity is its metadata-server step).
func TestApplicationDefaultCredentials(t *testing.T) {
	var a *account
	b := newBed(t, func(g *testenv.GCSBucket) []string {
		a = newAccount(t, g.Endpoint, http.StatusOK)
		return []string{"--source", "gcs", "--gcs-bucket", bucketName, "--gcs-endpoint", a.endpoint}
	})
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", a.keyFile) // after newBed, which blanks it
	exp := objsrctest.NewExpect()
	b.Upload(t, objsrctest.GenObjects("", 2, 100, 4, time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC), 0.3, exp))
	logs, err := b.Run(t, b.Config(t), 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	b.CheckExact(t, exp)
	if a.grants.Load() == 0 || a.refused.Load() != 0 {
		t.Errorf("tokens issued %d, requests refused %d", a.grants.Load(), a.refused.Load())
	}
}

// TestKeyRejected: a key Google no longer accepts (deleted, or its
// service account disabled) stops the worker with the token endpoint's
// reason and what to check; the key is not echoed.
func TestKeyRejected(t *testing.T) {
	var a *account
	b := newBed(t, func(g *testenv.GCSBucket) []string {
		a = newAccount(t, g.Endpoint, http.StatusBadRequest)
		return []string{"--source", "gcs", "--gcs-bucket", bucketName, "--gcs-endpoint", a.endpoint, "--gcs-credentials-file", a.keyFile}
	})
	msg := fatal(t, b, "gcs: credentials rejected by the token endpoint (400 invalid_grant: Invalid JWT Signature.)", "--gcs-credentials-file")
	if strings.Contains(msg, "PRIVATE KEY") || a.refused.Load() != 0 {
		t.Errorf("message %q; requests without a token %d", msg, a.refused.Load())
	}
}
