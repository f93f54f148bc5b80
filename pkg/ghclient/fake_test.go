package ghclient

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
)

// fakeGH is a small GitHub REST stand-in for unit tests: seat endpoints,
// Link pagination, a primary rate-limit window with X-RateLimit-* headers
// on every answer, PAT or App-installation auth, and a hook to inject
// answers. It records every request with a server-side timestamp.
type fakeGH struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	limit       int
	used        int
	window      time.Duration
	windowEnd   time.Time
	violations  int // API requests that arrived with the window spent
	probes      int // GET /rate_limit
	noRateLimit bool
	settings    map[string]string // seat_management_setting per org (default assign_selected)
	reqs        []rec
	orgs        map[string][]json.RawMessage
	latency     time.Duration
	// hook may answer a request itself (return true). n counts API
	// requests from 1. It runs after rate accounting, with headers set.
	hook func(w http.ResponseWriter, r *http.Request, n int) bool

	pat        string
	appID      int64
	appKey     *rsa.PublicKey
	tokenTTL   time.Duration
	tokens     map[string]time.Time
	tokenPosts int
	tokenFail  int // answer this many token POSTs with 401
	issued     []string
	jwts       []string
}

type rec struct {
	at                time.Time
	method, path, raw string
	auth, ua, version string
	remainingBefore   int
}

func newFakeGH(t *testing.T) *fakeGH {
	f := &fakeGH{t: t, limit: 5000, window: time.Hour, orgs: map[string][]json.RawMessage{},
		pat: "ghp_unitTESTtoken0123456789abcdef", tokens: map[string]time.Time{}, tokenTTL: time.Hour}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGH) url() string { return f.srv.URL + "/" }

func (f *fakeGH) requests() []rec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rec(nil), f.reqs...)
}

func (f *fakeGH) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeGH) countPath(sub string) int {
	n := 0
	for _, r := range f.requests() {
		if strings.Contains(r.path, sub) {
			n++
		}
	}
	return n
}

// setWindow sets the primary window: limit, already used, and seconds until reset.
func (f *fakeGH) setWindow(limit, used int, resetIn time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit, f.used = limit, used
	f.windowEnd = time.Unix(time.Now().Add(resetIn).Unix(), 0)
	if !f.windowEnd.After(time.Now()) {
		f.windowEnd = f.windowEnd.Add(time.Second)
	}
}

func (f *fakeGH) setLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

func (f *fakeGH) nViolations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.violations
}

func (f *fakeGH) setHook(h func(w http.ResponseWriter, r *http.Request, n int) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// addOrg creates n ordinary seats user0000.. in org.
func (f *fakeGH) addOrg(org string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		f.orgs[org] = append(f.orgs[org], seatJSON(fmt.Sprintf("user%04d", i), int64(1000+i), nil))
	}
}

func (f *fakeGH) addRawSeat(org string, raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orgs[org] = append(f.orgs[org], json.RawMessage(raw))
}

func seatJSON(login string, id int64, extra map[string]any) json.RawMessage {
	m := map[string]any{
		"created_at":                "2024-01-10T00:00:00Z",
		"updated_at":                "2024-06-01T00:00:00Z",
		"pending_cancellation_date": nil,
		"last_activity_at":          "2024-06-10T12:00:00Z",
		"last_activity_editor":      "vscode",
		"last_authenticated_at":     "2024-06-10T11:00:00Z",
		"plan_type":                 "business",
		"assigning_team":            nil,
		"assignee":                  map[string]any{"login": login, "id": id, "type": "User"},
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeGH) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/app/installations/") && strings.HasSuffix(r.URL.Path, "/access_tokens") {
		f.serveToken(w, r)
		return
	}
	now := time.Now()
	f.mu.Lock()
	if !now.Before(f.windowEnd) {
		f.used = 0
		f.windowEnd = time.Unix(now.Add(f.window).Unix(), 0)
	}
	if r.URL.Path == "/rate_limit" { // free, not recorded (as on GitHub)
		f.probes++
		core := map[string]int64{"limit": int64(f.limit), "remaining": int64(max(f.limit-f.used, 0)), "used": int64(f.used), "reset": f.windowEnd.Unix()}
		f.mu.Unlock()
		if f.noRateLimit {
			writeJSON(w, 404, map[string]string{"message": "Not Found"})
			return
		}
		writeJSON(w, 200, map[string]any{"resources": map[string]any{"core": core}, "rate": core})
		return
	}
	rc := rec{at: now, method: r.Method, path: r.URL.Path, raw: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
		ua: r.Header.Get("User-Agent"), version: r.Header.Get("X-GitHub-Api-Version"), remainingBefore: f.limit - f.used}
	f.reqs = append(f.reqs, rc)
	n := len(f.reqs)
	authOK := rc.auth == "Bearer "+f.pat
	if tok, ok := strings.CutPrefix(rc.auth, "token "); ok {
		if exp, known := f.tokens[tok]; known && now.Before(exp) {
			authOK = true
		}
	}
	spent := f.used >= f.limit
	if spent {
		f.violations++
	} else {
		f.used++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(f.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(f.limit-f.used))
	h.Set("X-RateLimit-Used", strconv.Itoa(f.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(f.windowEnd.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	hook, latency := f.hook, f.latency
	orgs := f.orgs
	f.mu.Unlock()

	if latency > 0 {
		time.Sleep(latency)
	}
	if spent {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})
		return
	}
	if !authOK {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	if hook != nil && hook(w, r, n) {
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 5 && parts[0] == "orgs" && parts[2] == "members" && parts[4] == "copilot":
		f.mu.Lock()
		seats := orgs[parts[1]]
		f.mu.Unlock()
		for _, raw := range seats {
			var s struct {
				Assignee *struct{ Login string } `json:"assignee"`
			}
			_ = json.Unmarshal(raw, &s)
			if s.Assignee != nil && strings.EqualFold(s.Assignee.Login, parts[3]) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(raw)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	case len(parts) == 5 && (parts[0] == "orgs" || parts[0] == "enterprises") && parts[2] == "copilot" && parts[3] == "billing" && parts[4] == "seats":
		f.mu.Lock()
		seats := orgs[parts[1]]
		f.mu.Unlock()
		if seats == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		f.list(w, r, seats)
	case len(parts) == 4 && parts[0] == "orgs" && parts[2] == "copilot" && parts[3] == "billing":
		f.mu.Lock()
		setting := f.settings[parts[1]]
		f.mu.Unlock()
		if setting == "" {
			setting = "assign_selected"
		}
		writeJSON(w, 200, map[string]any{
			"seat_breakdown":          map[string]int{"total": 12, "added_this_cycle": 2, "pending_cancellation": 1, "pending_invitation": 0, "active_this_cycle": 9, "inactive_this_cycle": 3},
			"seat_management_setting": setting, "public_code_suggestions": "block", "ide_chat": "enabled",
			"platform_chat": "enabled", "cli": "enabled", "plan_type": "business",
		})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
}

func (f *fakeGH) list(w http.ResponseWriter, r *http.Request, seats []json.RawMessage) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 50
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	last := max((len(seats)+per-1)/per, 1)
	lo, hi := min((page-1)*per, len(seats)), min(page*per, len(seats))
	link := func(p int, rel string) string {
		return fmt.Sprintf(`<http://%s%s?per_page=%d&page=%d>; rel="%s"`, r.Host, r.URL.Path, per, p, rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(page-1, "prev"), link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"total_seats":%d,"seats":[`, len(seats))
	for i, s := range seats[lo:hi] {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(s)
	}
	buf.WriteString("]}")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func (f *fakeGH) serveToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenPosts++
	auth := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || f.appKey == nil {
		writeJSON(w, 401, map[string]string{"message": "A JSON web token could not be decoded"})
		return
	}
	f.jwts = append(f.jwts, raw)
	claims := &jwt.RegisteredClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tk *jwt.Token) (any, error) {
		if _, ok := tk.Method.(*jwt.SigningMethodRSA); !ok {
			return nil, fmt.Errorf("alg %v", tk.Header["alg"])
		}
		return f.appKey, nil
	})
	if err != nil || !tok.Valid || claims.Issuer != strconv.FormatInt(f.appID, 10) {
		writeJSON(w, 401, map[string]string{"message": "'Issuer' claim ('iss') must be an Integer"})
		return
	}
	if r.Header.Get("X-GitHub-Api-Version") != APIVersion || r.Header.Get("User-Agent") == "" {
		writeJSON(w, 400, map[string]string{"message": "missing headers"})
		return
	}
	if f.tokenFail > 0 {
		f.tokenFail--
		writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
		return
	}
	t := fmt.Sprintf("ghs_inst%03dSECRET%d", len(f.issued), time.Now().UnixNano())
	exp := time.Now().Add(f.tokenTTL)
	f.tokens[t] = exp
	f.issued = append(f.issued, t)
	writeJSON(w, 201, map[string]any{"token": t, "expires_at": exp.UTC().Format(time.RFC3339)})
}

// testKey makes an RSA key (PKCS#1 PEM) for App auth.
func testKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// newTestClient builds a PAT client on f with fast backoff and slack.
func newTestClient(t *testing.T, f *fakeGH, mod func(*Config), log *slog.Logger) *Client {
	t.Helper()
	cfg := Config{BaseURL: f.url(), Token: Secret(f.pat), Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c.backoffInitial = 5 * time.Millisecond
	c.backoffMax = 50 * time.Millisecond
	return c
}
