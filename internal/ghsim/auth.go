package ghsim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	kindAnon = iota
	kindPAT
	kindInstallation
	kindAppJWT
)

// principal is who a request authenticates as, and which budget it spends.
type principal struct {
	kind    int
	token   string
	bucket  string
	limit   int
	enforce bool
	who     string // for the primary-limit message: "user ID 123", "installation ID 1"
	actor   string
	actorID int64
	bot     bool
	progTyp string
	// readOnly: a PAT of Options.ReadOnlyTokens (reads only).
	readOnly bool
}

type instToken struct {
	installation int64
	expires      time.Time
}

func stableID(name string, base int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return base + int64(h.Sum64()%90_000_000)
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:12])
}

func hashedToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func isJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) anon(r *http.Request) *principal {
	return &principal{kind: kindAnon, bucket: "anon:" + remoteIP(r), limit: 60, enforce: false, who: "IP " + remoteIP(r)}
}

// authenticate resolves the request's principal. msg != "" means 401 with
// that message. A request without credentials is anonymous when anonOK.
func (s *Server) authenticate(r *http.Request, rt *route) (p *principal, msg string) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		if rt != nil && rt.anonOK {
			return s.anon(r), ""
		}
		return nil, "Requires authentication"
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if tok == "" || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return nil, "Bad credentials"
	}
	if rt != nil && rt.app {
		if !isJWT(tok) {
			return nil, "A JSON web token could not be decoded"
		}
		if msg := s.verifyJWT(tok); msg != "" {
			return nil, msg
		}
		id := strconv.FormatInt(s.opts.AppID, 10)
		return &principal{kind: kindAppJWT, token: tok, bucket: "app:" + id, limit: s.opts.Limit, enforce: true,
			who: "app ID " + id, actor: s.opts.AppSlug + "[bot]", actorID: stableID(s.opts.AppSlug, 100_000_000),
			bot: true, progTyp: "GitHub App JWT"}, ""
	}
	switch {
	case isJWT(tok):
		return nil, "Bad credentials"
	case strings.HasPrefix(tok, "ghs_"):
		s.rl.Lock()
		it, ok := s.instTokens[tok]
		s.rl.Unlock()
		if !ok || !s.wall().Before(it.expires) {
			return nil, "Bad credentials"
		}
		id := strconv.FormatInt(it.installation, 10)
		return &principal{kind: kindInstallation, token: tok, bucket: "installation:" + id, limit: s.opts.Limit,
			enforce: true, who: "installation ID " + id, actor: s.opts.AppSlug + "[bot]",
			actorID: stableID(s.opts.AppSlug, 100_000_000), bot: true,
			progTyp: "GitHub App server-to-server token"}, ""
	}
	readOnly := slices.Contains(s.opts.ReadOnlyTokens, tok)
	if len(s.opts.Tokens) > 0 && !slices.Contains(s.opts.Tokens, tok) && !readOnly && !slices.Contains(s.opts.ForbiddenTokens, tok) {
		return nil, "Bad credentials"
	}
	aid := stableID(s.opts.Admin, 2_000_000)
	return &principal{kind: kindPAT, token: tok, bucket: "token:" + tokenKey(tok), limit: s.opts.Limit, enforce: true,
		who: "user ID " + strconv.FormatInt(aid, 10), actor: s.opts.Admin, actorID: aid,
		progTyp: "Personal access token (classic)", readOnly: readOnly}, ""
}

// verifyJWT checks an App JWT: RS256 signed by Options.AppPublicKey,
// iss = AppID, integer iat/exp, exp in the future and at most 10 minutes
// ahead, iat not in the future (60 s of clock drift allowed).
func (s *Server) verifyJWT(tok string) string {
	const undecodable = "A JSON web token could not be decoded"
	if s.opts.AppPublicKey == nil {
		return "Integration not found"
	}
	parts := strings.Split(tok, ".")
	hb, err1 := b64url(parts[0])
	pb, err2 := b64url(parts[1])
	sig, err3 := b64url(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return undecodable
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return undecodable
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.opts.AppPublicKey, crypto.SHA256, digest[:], sig) != nil {
		return undecodable
	}
	var claims map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if dec.Decode(&claims) != nil {
		return undecodable
	}
	intClaim := func(name string) (int64, bool) {
		raw, ok := claims[name]
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		return v, err == nil
	}
	now := s.wall()
	iat, ok := intClaim("iat")
	if !ok || time.Unix(iat, 0).After(now.Add(60*time.Second)) {
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued."
	}
	exp, ok := intClaim("exp")
	if !ok || !time.Unix(exp, 0).After(now) {
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires."
	}
	if time.Unix(exp, 0).After(now.Add(10*time.Minute + time.Second)) {
		return "'Expiration time' claim ('exp') is too far in the future."
	}
	var iss string
	if raw, ok := claims["iss"]; ok {
		if err := json.Unmarshal(raw, &iss); err != nil {
			iss = string(raw) // an integer
		}
	}
	if iss != strconv.FormatInt(s.opts.AppID, 10) {
		return "Integration not found"
	}
	return ""
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// IssueInstallationToken creates an installation token for
// Options.InstallationID directly (as the token exchange would), expiring
// after Options.TokenTTL of real time.
func (s *Server) IssueInstallationToken() (token string, expiresAt time.Time) {
	s.rl.Lock()
	defer s.rl.Unlock()
	return s.issueLocked(s.opts.InstallationID)
}

func (s *Server) issueLocked(installation int64) (string, time.Time) {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("ghs_")
	for range 36 {
		b = append(b, alnum[s.reqRNG.IntN(len(alnum))])
	}
	now := s.wall()
	exp := now.Add(s.opts.TokenTTL).Truncate(time.Second)
	for k, it := range s.instTokens { // drop long-expired tokens
		if now.Sub(it.expires) > time.Hour {
			delete(s.instTokens, k)
		}
	}
	s.instTokens[string(b)] = instToken{installation: installation, expires: exp}
	return string(b), exp
}

// AppJWT signs a GitHub App JWT (RS256) for appID with iat = now-60s and
// exp = now+ttl, as GitHub documents. A helper for tests and tools.
func AppJWT(key *rsa.PrivateKey, appID int64, now time.Time, ttl time.Duration) (string, error) {
	return SignJWT(key, map[string]any{
		"iat": now.Add(-60 * time.Second).Unix(),
		"exp": now.Add(ttl).Unix(),
		"iss": strconv.FormatInt(appID, 10),
	})
}

// SignJWT signs arbitrary claims with RS256 (for tests of malformed claims).
func SignJWT(key *rsa.PrivateKey, claims map[string]any) (string, error) {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	pb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := hdr + "." + base64.RawURLEncoding.EncodeToString(pb)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("ghsim: signing JWT: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
