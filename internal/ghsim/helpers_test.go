package ghsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"
)

const testToken = "ghp_testtoken0000000000000000000000000000"

func startSim(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func ghClient(t *testing.T, s *Server, tok string) *github.Client {
	t.Helper()
	base := s.URL() + "/"
	c, err := github.NewClient(github.WithTimeout(10*time.Second), github.WithAuthToken(tok), github.WithURLs(&base, nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r rawResp) apiErr(t *testing.T) apiError {
	t.Helper()
	var e apiError
	r.json(t, &e)
	return e
}

// raw sends one request with the standard headers (tok "" = none; set
// version "" to omit X-GitHub-Api-Version).
func raw(t *testing.T, s *Server, method, path, tok, version string, body any) rawResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if version != "" {
		req.Header.Set("X-GitHub-Api-Version", version)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func get(t *testing.T, s *Server, path string) rawResp {
	t.Helper()
	return raw(t, s, http.MethodGet, path, testToken, APIVersion, nil)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// smallEnterprise: org "octo" (assign_selected) with members, a team, an
// invitation; org "allorg" (assign_all); org "off" (disabled).
func smallEnterprise(t *testing.T, s *Server) {
	t.Helper()
	must(t, s.AddOrg("octo", AssignSelected, PlanBusiness))
	must(t, s.AddOrg("allorg", AssignAll, PlanEnterprise))
	must(t, s.AddOrg("off", Disabled, PlanBusiness))
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		must(t, s.AddMember("octo", u))
	}
	must(t, s.AddTeam("octo", "backend", "carol", "dave"))
	must(t, s.Invite("octo", "ivan"))
	must(t, s.AddMember("allorg", "alice"))
	must(t, s.AddMember("allorg", "frank"))
	must(t, s.AddMember("off", "gina"))
}
