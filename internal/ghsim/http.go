package ghsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoint patterns: the keys of Requests().
const (
	EndpointBilling         = "GET /orgs/{org}/copilot/billing"
	EndpointOrgSeats        = "GET /orgs/{org}/copilot/billing/seats"
	EndpointEnterpriseSeats = "GET /enterprises/{enterprise}/copilot/billing/seats"
	EndpointSeatDetails     = "GET /orgs/{org}/members/{username}/copilot"
	EndpointAddUsers        = "POST /orgs/{org}/copilot/billing/selected_users"
	EndpointRemoveUsers     = "DELETE /orgs/{org}/copilot/billing/selected_users"
	EndpointAddTeams        = "POST /orgs/{org}/copilot/billing/selected_teams"
	EndpointRemoveTeams     = "DELETE /orgs/{org}/copilot/billing/selected_teams"
	EndpointAccessToken     = "POST /app/installations/{installation_id}/access_tokens"
	EndpointRateLimit       = "GET /rate_limit"
	EndpointUnknown         = "unknown"
)

const (
	docsRoot       = "https://docs.github.com/rest"
	docsUserMgmt   = "https://docs.github.com/rest/copilot/copilot-user-management"
	docsRateLimits = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	docsSecondary  = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docsVersions   = "https://docs.github.com/rest/about-the-rest-api/api-versions"
	docsAppToken   = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
	docsRateLimit  = "https://docs.github.com/rest/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user"
)

type route struct {
	method    string
	segs      []string // "{name}" segments are parameters
	key       string
	h         func(*Server, *reqCtx)
	app       bool // authenticated by an App JWT
	noVersion bool // X-GitHub-Api-Version may be absent
	anonOK    bool // works without credentials
	exempt    bool // not rate limited, no faults
}

var routes []*route

// addRoute registers the handler of an endpoint pattern ("METHOD /path/{param}").
func addRoute(key string, h func(*Server, *reqCtx), mod func(*route)) {
	method, path, _ := strings.Cut(key, " ")
	rt := &route{method: method, segs: strings.Split(strings.Trim(path, "/"), "/"), key: key, h: h}
	if mod != nil {
		mod(rt)
	}
	routes = append(routes, rt)
}

func init() {
	add := addRoute
	add(EndpointBilling, (*Server).hBilling, nil)
	add(EndpointOrgSeats, (*Server).hOrgSeats, nil)
	add(EndpointEnterpriseSeats, (*Server).hEnterpriseSeats, nil)
	add(EndpointSeatDetails, (*Server).hSeatDetails, nil)
	add(EndpointAddUsers, (*Server).hSelectedUsers, nil)
	add(EndpointRemoveUsers, (*Server).hSelectedUsers, nil)
	add(EndpointAddTeams, (*Server).hSelectedTeams, nil)
	add(EndpointRemoveTeams, (*Server).hSelectedTeams, nil)
	// App token clients (ghinstallation, …) may not send
	// X-GitHub-Api-Version on the token exchange; GitHub then uses its
	// default version, so the simulator accepts it there.
	add(EndpointAccessToken, (*Server).hAccessToken, func(r *route) { r.app, r.noVersion = true, true })
	add(EndpointRateLimit, (*Server).hRateLimit, func(r *route) { r.anonOK, r.exempt = true, true })
}

func matchRoute(method, path string) (*route, map[string]string) {
	path = strings.Trim(path, "/")
	segs := strings.Split(path, "/")
	for _, rt := range routes {
		if rt.method != method || len(rt.segs) != len(segs) {
			continue
		}
		var params map[string]string
		ok := true
		for i, p := range rt.segs {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				if params == nil {
					params = map[string]string{}
				}
				params[strings.Trim(p, "{}")] = segs[i]
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

// reqCtx is one request in flight.
type reqCtx struct {
	key    string // the endpoint pattern
	w      http.ResponseWriter
	r      *http.Request
	params map[string]string
	p      *principal
	reqID  string
	base   string // "http://host:port" as the client addressed us
	snap   rlSnap
}

type apiError struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrival := s.wall()
	rt, params := matchRoute(r.Method, r.URL.Path)
	key := EndpointUnknown
	if rt != nil {
		key = rt.key
	}
	s.rl.Lock()
	s.total++
	s.requests[key]++
	latency := s.faults.Latency
	reqID := s.requestID(s.reqRNG.Uint64(), s.reqRNG.Uint64())
	s.rl.Unlock()

	c := &reqCtx{key: key, w: w, r: r, params: params, reqID: reqID, base: "http://" + r.Host}
	logged := s.logRequest(rt, key, r, arrival)
	p, authMsg := s.authenticate(r, rt)
	counted := rt != nil && authMsg == "" && !rt.exempt
	ahead := 0
	if counted {
		ahead = s.enter(p)
		defer s.leave(p)
	}
	if latency > 0 && (rt == nil || !rt.exempt) && !wait(r, latency) {
		return
	}

	if rt == nil {
		if p == nil {
			p = s.anon(r)
		}
		c.p, c.snap = p, s.peek(p)
		s.writeError(c, http.StatusNotFound, "Not Found", docsRoot)
		return
	}
	if authMsg != "" {
		c.p = s.anon(r)
		c.snap = s.countOnly(c.p)
		s.writeError(c, http.StatusUnauthorized, authMsg, docsRoot)
		return
	}
	c.p = p
	if rt.exempt {
		c.snap = s.peek(p)
		rt.h(s, c)
		return
	}

	sn, v := s.admit(p, arrival, ahead)
	c.snap = sn
	s.logAdmission(logged, sn, v == admitOK)
	switch v {
	case rejectPrimary:
		status := http.StatusForbidden
		if s.opts.Use429 {
			status = http.StatusTooManyRequests
		}
		s.writeError(c, status, "API rate limit exceeded for "+p.who+
			". If you reach out to GitHub Support for help, please include the request ID "+reqID+
			" and timestamp "+s.wall().UTC().Format("2006-01-02 15:04:05 MST")+".", docsRateLimits)
		return
	case rejectSecondary:
		s.writeSecondary(c)
		return
	}

	if s.refuseVersion(c, rt) || s.refuseToken(c, p) {
		return
	}
	if !rt.app && s.applyFailure(c) {
		return
	}
	if s.injectFault(c) {
		return
	}
	rt.h(s, c)
}

// wait holds a request for d; false: the client went away meanwhile.
// The body is read first: net/http notices a client that goes away (and
// cancels the request) only once the body is consumed, so a client killed
// while its request waits here is never acted on.
func wait(r *http.Request, d time.Duration) bool {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// refuseVersion answers 400, as GitHub does, a request without the API
// version the route needs or with one it does not know.
func (s *Server) refuseVersion(c *reqCtx, rt *route) bool {
	ver := c.r.Header.Get("X-GitHub-Api-Version")
	switch {
	case rt.noVersion && ver == "", ver == APIVersion:
		return false
	case ver == "":
		s.writeError(c, http.StatusBadRequest, "Missing X-GitHub-Api-Version header. Supported API versions: "+APIVersion+".", docsVersions)
	default:
		s.writeError(c, http.StatusBadRequest, "Unsupported 'X-GitHub-Api-Version' header value '"+ver+"'. Supported API versions: "+APIVersion+".", docsVersions)
	}
	return true
}

// refuseToken answers 403 a personal access token configured as lacking
// the scopes (Options.ForbiddenTokens).
func (s *Server) refuseToken(c *reqCtx, p *principal) bool {
	if p.kind != kindPAT || !slices.Contains(s.opts.ForbiddenTokens, p.token) {
		return false
	}
	h := c.w.Header()
	h.Set("X-OAuth-Scopes", "") // a token without scopes
	h.Set("X-Accepted-OAuth-Scopes", "manage_billing:copilot, read:org")
	s.writeError(c, http.StatusForbidden, "Resource not accessible by personal access token", docsUserMgmt)
	return true
}

// injectFault applies the configured faults; true means the request has
// been answered (or its connection dropped).
func (s *Server) injectFault(c *reqCtx) bool {
	s.rl.Lock()
	f := s.faults
	s.faultN++
	n := s.faultN
	xReset, xErr, code := s.faultRNG.Float64(), s.faultRNG.Float64(), []int{500, 502, 503}[s.faultRNG.IntN(3)]
	s.rl.Unlock()

	switch {
	case f.ResetRate > 0 && xReset < f.ResetRate:
		dropConnection(c.w)
		return true
	case f.Burst429Every > 0 && f.Burst429Len > 0 && (n-1)%(f.Burst429Every+f.Burst429Len) >= f.Burst429Every:
		c.snap = s.trip(c.snap, f.RetryAfter)
		s.writeRaw(c, http.StatusTooManyRequests, secondaryBody(c.reqID, http.StatusTooManyRequests))
		return true
	case f.SecondaryEvery > 0 && n%f.SecondaryEvery == 0:
		c.snap = s.trip(c.snap, f.RetryAfter)
		s.writeSecondary(c)
		return true
	case f.ErrorRate > 0 && xErr < f.ErrorRate:
		msg := map[int]string{500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}[code]
		s.writeError(c, code, msg, docsRoot)
		return true
	}
	return false
}

func secondaryBody(reqID string, status int) apiError {
	return apiError{
		Message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
			"If you reach out to GitHub Support for help, please include the request ID " + reqID + ".",
		DocumentationURL: docsSecondary,
		Status:           strconv.Itoa(status),
	}
}

func (s *Server) writeSecondary(c *reqCtx) {
	status := http.StatusForbidden
	if s.opts.Use429 {
		status = http.StatusTooManyRequests
	}
	s.writeRaw(c, status, secondaryBody(c.reqID, status))
}

func (s *Server) writeError(c *reqCtx, status int, msg, doc string) {
	s.writeRaw(c, status, apiError{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(status)})
}

// writeRaw writes a JSON response with GitHub's headers, flushes it, and
// then records what it announced (rate-limit accounting).
// v nil: no body (204 No Content).
func (s *Server) writeRaw(c *reqCtx, status int, v any) {
	var buf bytes.Buffer
	h := c.w.Header()
	if v != nil {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			status = http.StatusInternalServerError
			buf.Reset()
			buf.WriteString(`{"message":"Server Error"}`)
		}
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", APIVersion)
	h.Set("X-GitHub-Request-Id", c.reqID)
	h.Set("Server", "github.com")
	sn := c.snap
	if sn.b != nil {
		h.Set("X-RateLimit-Limit", strconv.Itoa(sn.limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(sn.remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(sn.reset.Unix(), 10))
		h.Set("X-RateLimit-Used", strconv.Itoa(sn.used))
		h.Set("X-RateLimit-Resource", "core")
	}
	if sn.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(sn.retryAfter))
	}
	if v != nil {
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
	}
	// Counted before it is sent: a client that has the answer finds it in
	// Statuses.
	s.rl.Lock()
	s.statuses[status]++
	s.rl.Unlock()
	c.w.WriteHeader(status)
	_, _ = c.w.Write(buf.Bytes())
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
	s.announced(sn)
}

// ---- handlers ----

func (s *Server) hBilling(c *reqCtx) {
	s.mu.Lock()
	o, ok := s.orgs[c.params["org"]]
	if !ok {
		s.mu.Unlock()
		s.writeError(c, http.StatusNotFound, "Not Found", docsUserMgmt+"#get-copilot-seat-information-and-settings-for-an-organization")
		return
	}
	cs := s.cycleStart(s.now)
	var bd seatBreakdown
	for _, st := range o.seats {
		bd.Total++
		if !st.created.Before(cs) {
			bd.AddedThisCycle++
		}
		if o.invites[st.login] {
			bd.PendingInvitation++
		}
		if !st.pending.IsZero() {
			bd.PendingCancellation++
		}
		if !st.lastActivity.IsZero() && !st.lastActivity.Before(cs) {
			bd.ActiveThisCycle++
		}
	}
	bd.InactiveThisCycle = bd.Total - bd.ActiveThisCycle
	out := billingJSON{
		SeatBreakdown: bd, SeatManagementSetting: o.setting, IDEChat: "enabled", PlatformChat: "enabled",
		CLI: "enabled", PublicCodeSuggestions: "block", PlanType: o.plan,
	}
	s.mu.Unlock()
	s.writeRaw(c, http.StatusOK, out)
}

func (s *Server) hOrgSeats(c *reqCtx) {
	s.mu.Lock()
	o, ok := s.orgs[c.params["org"]]
	if !ok {
		s.mu.Unlock()
		s.writeError(c, http.StatusNotFound, "Not Found", docsUserMgmt+"#list-all-copilot-seat-assignments-for-an-organization")
		return
	}
	all := orderedSeats(o.seats)
	s.writeSeatPage(c, len(all), len(all), s.rawSeats[o.login], func(i int) seatJSON { return s.renderSeat(c.base, scope{org: o}, all[i]) })
}

func (s *Server) hEnterpriseSeats(c *reqCtx) {
	if c.params["enterprise"] != s.opts.Enterprise {
		s.writeError(c, http.StatusNotFound, "Not Found", docsUserMgmt+"#list-all-copilot-seat-assignments-for-an-enterprise")
		return
	}
	s.mu.Lock()
	all := s.enterpriseSeatsLocked()
	users := map[string]bool{}
	for _, e := range all {
		users[e.st.login] = true
	}
	s.writeSeatPage(c, len(all), len(users), s.rawSeats[s.opts.Enterprise], func(i int) seatJSON { return s.renderSeat(c.base, all[i].sc, all[i].st) })
}

// writeSeatPage answers a seat list: the page c asks for of n seats
// (render gives the i-th), then the raw ones (AddRawSeat), with
// total_seats total plus the raw ones. Needs mu, which it releases.
func (s *Server) writeSeatPage(c *reqCtx, n, total int, raw []json.RawMessage, render func(i int) seatJSON) {
	from, to, link := paginate(c, n+len(raw))
	out := seatListJSON{TotalSeats: total + len(raw), Seats: []any{}}
	for i := from; i < to; i++ {
		if i < n {
			out.Seats = append(out.Seats, render(i))
		} else {
			out.Seats = append(out.Seats, raw[i-n])
		}
	}
	s.mu.Unlock()
	if link != "" {
		c.w.Header().Set("Link", link)
	}
	s.writeRaw(c, http.StatusOK, out)
}

func (s *Server) hSeatDetails(c *reqCtx) {
	const doc = docsUserMgmt + "#get-copilot-seat-assignment-details-for-a-user"
	s.mu.Lock()
	o, ok := s.orgs[c.params["org"]]
	if !ok {
		s.mu.Unlock()
		s.writeError(c, http.StatusNotFound, "Not Found", doc)
		return
	}
	login := c.params["username"]
	u := s.userFold(login)
	if u != nil {
		login = u.login
	}
	var st *seat
	if u != nil && !u.deleted {
		st = o.seats[login]
	}
	var status int
	var msg string
	switch {
	case o.setting == Disabled || o.setting == Unconfigured:
		status, msg = http.StatusUnprocessableEntity, "Copilot Business or Enterprise is not enabled for this organization."
	case o.setting == AssignAll:
		status, msg = http.StatusUnprocessableEntity, "This organization assigns Copilot seats to all members: seat details are not available per user. List the organization's seats instead."
	case u == nil || u.deleted:
		status, msg = http.StatusNotFound, "Not Found"
	case o.invites[login]:
		status, msg = http.StatusUnprocessableEntity, "The user has a pending invitation to this organization."
	case st == nil:
		status, msg = http.StatusNotFound, "Not Found"
	}
	if status != 0 {
		s.mu.Unlock()
		s.writeError(c, status, msg, doc)
		return
	}
	out := s.renderSeat(c.base, scope{org: o}, st)
	s.mu.Unlock()
	s.writeRaw(c, http.StatusOK, out)
}

func (s *Server) readBody(c *reqCtx, v any, doc string) bool {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil || json.Unmarshal(b, v) != nil {
		s.writeError(c, http.StatusBadRequest, "Problems parsing JSON", doc)
		return false
	}
	return true
}

func (s *Server) hSelectedUsers(c *reqCtx) {
	add := c.r.Method == http.MethodPost
	doc := docsUserMgmt + "#remove-users-from-the-copilot-subscription-for-an-organization"
	if add {
		doc = docsUserMgmt + "#add-users-to-the-copilot-subscription-for-an-organization"
	}
	if !s.mayWrite(c, permCopilotSeats) {
		return
	}
	var body struct {
		SelectedUsernames []string `json:"selected_usernames"`
	}
	if !s.readBody(c, &body, doc) {
		return
	}
	s.selected(c, add, "selected_usernames", body.SelectedUsernames, doc,
		(*Server).assignUsersLocked, (*Server).unassignUsersLocked)
}

func (s *Server) hSelectedTeams(c *reqCtx) {
	add := c.r.Method == http.MethodPost
	doc := docsUserMgmt + "#remove-teams-from-the-copilot-subscription-for-an-organization"
	if add {
		doc = docsUserMgmt + "#add-teams-to-the-copilot-subscription-for-an-organization"
	}
	if !s.mayWrite(c, permCopilotSeats) {
		return
	}
	var body struct {
		SelectedTeams []string `json:"selected_teams"`
	}
	if !s.readBody(c, &body, doc) {
		return
	}
	s.selected(c, add, "selected_teams", body.SelectedTeams, doc,
		(*Server).assignTeamsLocked, (*Server).unassignTeamsLocked)
}

type seatOp func(*Server, string, []string, *actorInfo) (int, error)

func (s *Server) selected(c *reqCtx, add bool, field string, names []string, doc string, addFn, removeFn seatOp) {
	orgName := c.params["org"]
	m := Mutation{Endpoint: c.key, Scope: orgName, Names: slices.Clone(names)}
	if len(names) == 0 {
		s.finishMutation(c, m, http.StatusUnprocessableEntity, apiErr("Invalid request.\n\n\""+field+"\" wasn't supplied or is empty.", doc, http.StatusUnprocessableEntity))
		return
	}
	if len(names) > 100 {
		s.finishMutation(c, m, http.StatusUnprocessableEntity, apiErr("Invalid request.\n\n\""+field+"\" is too long ("+
			strconv.Itoa(len(names))+" items). Maximum is 100.", doc, http.StatusUnprocessableEntity))
		return
	}
	s.mu.Lock()
	if _, ok := s.orgs[orgName]; !ok {
		s.mu.Unlock()
		s.finishMutation(c, m, http.StatusNotFound, apiErr("Not Found", doc, http.StatusNotFound))
		return
	}
	a := s.apiActor(c)
	fn := removeFn
	if add {
		fn = addFn
	}
	n, err := fn(s, orgName, names, a)
	setting := s.orgs[orgName].setting
	m.At = s.now
	s.mu.Unlock()
	unprocessable := func(msg string) {
		s.finishMutation(c, m, http.StatusUnprocessableEntity, apiErr(msg, doc, http.StatusUnprocessableEntity))
	}
	switch {
	case errors.Is(err, ErrSeatManagement):
		msg := "Copilot Business or Enterprise is not enabled for this organization."
		if setting == AssignAll {
			msg = "This organization's Copilot seat management setting is 'assign_all': seats cannot be added or removed for individual users or teams. Change it to 'assign_selected' first."
		}
		unprocessable(msg)
	case errors.Is(err, ErrNotMember):
		unprocessable("The following users are not members of the organization and have no pending invitation: " +
			strings.TrimPrefix(err.Error(), ErrNotMember.Error()+": "))
	case errors.Is(err, ErrNotFound):
		unprocessable("Could not find " + strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": "))
	case err != nil:
		unprocessable(err.Error())
	case add:
		m.Result = n
		s.finishMutation(c, m, http.StatusCreated, map[string]int{"seats_created": n})
	default:
		m.Result = n
		s.finishMutation(c, m, http.StatusOK, map[string]int{"seats_cancelled": n})
	}
}

// apiActor is the audit-event actor of an API request. Needs s.mu.
func (s *Server) apiActor(c *reqCtx) *actorInfo {
	a := &actorInfo{
		login: c.p.actor, id: c.p.actorID, bot: c.p.bot, ip: remoteIP(c.r), country: "US",
		userAgent: c.r.UserAgent(), requestID: c.reqID, hashedToken: hashedToken(c.p.token),
		progType: c.p.progTyp,
	}
	if u, ok := s.users[a.login]; ok && !a.bot {
		a.id = u.id
	}
	return a
}

func (s *Server) hAccessToken(c *reqCtx) {
	id, err := strconv.ParseInt(c.params["installation_id"], 10, 64)
	if err != nil || id != s.opts.InstallationID {
		s.writeError(c, http.StatusNotFound, "Not Found", docsAppToken)
		return
	}
	s.rl.Lock()
	s.jwts = append(s.jwts, c.p.token)
	if s.tokenFailures > 0 {
		s.tokenFailures--
		s.rl.Unlock()
		s.writeError(c, http.StatusUnauthorized, "Bad credentials", docsRoot)
		return
	}
	tok, exp := s.issueLocked(id)
	s.issued = append(s.issued, tok)
	s.rl.Unlock()
	seats := "write"
	if s.opts.AppReadOnly {
		seats = "read"
	}
	s.writeRaw(c, http.StatusCreated, accessTokenJSON{
		Token: tok, ExpiresAt: exp.UTC().Format(time.RFC3339),
		Permissions:         map[string]string{"members": "read", "organization_copilot_seat_management": seats},
		RepositorySelection: "all",
	})
}

func (s *Server) hRateLimit(c *reqCtx) {
	if s.opts.NoRateLimitEndpoint {
		s.writeError(c, http.StatusNotFound, "Not Found", docsRoot)
		return
	}
	sn := c.snap
	reset := sn.reset.Unix()
	core := rateJSON{Limit: sn.limit, Used: sn.used, Remaining: sn.remaining, Reset: reset}
	other := func(limit int, d time.Duration) rateJSON {
		return rateJSON{Limit: limit, Remaining: limit, Reset: s.wall().Add(d).Unix()}
	}
	out := map[string]any{
		"resources": map[string]rateJSON{
			"core":                 core,
			"search":               other(30, time.Minute),
			"graphql":              other(5000, time.Hour),
			"integration_manifest": other(5000, time.Hour),
			"code_search":          other(10, time.Minute),
			"audit_log":            other(1750, time.Hour),
		},
		"rate": core,
	}
	s.writeRaw(c, http.StatusOK, out)
}

// paginate applies page/per_page (default 50, max 100) to n items and
// builds GitHub's Link header (prev, next, last, first).
func paginate(c *reqCtx, n int) (from, to int, link string) {
	q := c.r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = 50
	}
	per = min(per, 100)
	last := max((n+per-1)/per, 1)
	from = min((page-1)*per, n)
	to = min(from+per, n)

	q.Del("page")
	prefix := c.base + c.r.URL.Path + "?"
	if enc := q.Encode(); enc != "" {
		prefix += enc + "&"
	}
	ref := func(p int, rel string) string {
		return "<" + prefix + "page=" + strconv.Itoa(p) + ">; rel=\"" + rel + "\""
	}
	var parts []string
	if page > 1 {
		parts = append(parts, ref(min(page-1, last), "prev"))
	}
	if page < last {
		parts = append(parts, ref(page+1, "next"), ref(last, "last"))
	}
	if page > 1 {
		parts = append(parts, ref(1, "first"))
	}
	return from, to, strings.Join(parts, ", ")
}

// ---- JSON shapes (field order as GitHub's documented examples) ----

type seatBreakdown struct {
	Total               int `json:"total"`
	AddedThisCycle      int `json:"added_this_cycle"`
	PendingInvitation   int `json:"pending_invitation"`
	PendingCancellation int `json:"pending_cancellation"`
	ActiveThisCycle     int `json:"active_this_cycle"`
	InactiveThisCycle   int `json:"inactive_this_cycle"`
}

type billingJSON struct {
	SeatBreakdown         seatBreakdown `json:"seat_breakdown"`
	SeatManagementSetting string        `json:"seat_management_setting"`
	IDEChat               string        `json:"ide_chat"`
	PlatformChat          string        `json:"platform_chat"`
	CLI                   string        `json:"cli"`
	PublicCodeSuggestions string        `json:"public_code_suggestions"`
	PlanType              string        `json:"plan_type"`
}

type seatListJSON struct {
	TotalSeats int   `json:"total_seats"`
	Seats      []any `json:"seats"` // seatJSON, or a raw seat (AddRawSeat)
}

type seatJSON struct {
	CreatedAt               string    `json:"created_at"`
	UpdatedAt               string    `json:"updated_at"`
	PendingCancellationDate *string   `json:"pending_cancellation_date"`
	LastActivityAt          *string   `json:"last_activity_at"`
	LastActivityEditor      *string   `json:"last_activity_editor"`
	LastAuthenticatedAt     *string   `json:"last_authenticated_at"`
	PlanType                string    `json:"plan_type"`
	Assignee                *userJSON `json:"assignee"`
	AssigningTeam           any       `json:"assigning_team"` // *teamJSON, *entTeamJSON or nil
	Organization            *orgJSON  `json:"organization"`
}

type userJSON struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	NodeID            string `json:"node_id"`
	AvatarURL         string `json:"avatar_url"`
	GravatarID        string `json:"gravatar_id"`
	URL               string `json:"url"`
	HTMLURL           string `json:"html_url"`
	FollowersURL      string `json:"followers_url"`
	FollowingURL      string `json:"following_url"`
	GistsURL          string `json:"gists_url"`
	StarredURL        string `json:"starred_url"`
	SubscriptionsURL  string `json:"subscriptions_url"`
	OrganizationsURL  string `json:"organizations_url"`
	ReposURL          string `json:"repos_url"`
	EventsURL         string `json:"events_url"`
	ReceivedEventsURL string `json:"received_events_url"`
	Type              string `json:"type"`
	UserViewType      string `json:"user_view_type"`
	SiteAdmin         bool   `json:"site_admin"`
}

type orgJSON struct {
	Login            string  `json:"login"`
	ID               int64   `json:"id"`
	NodeID           string  `json:"node_id"`
	URL              string  `json:"url"`
	ReposURL         string  `json:"repos_url"`
	EventsURL        string  `json:"events_url"`
	HooksURL         string  `json:"hooks_url"`
	IssuesURL        string  `json:"issues_url"`
	MembersURL       string  `json:"members_url"`
	PublicMembersURL string  `json:"public_members_url"`
	AvatarURL        string  `json:"avatar_url"`
	Description      *string `json:"description"`
}

type teamJSON struct {
	ID                  int64   `json:"id"`
	NodeID              string  `json:"node_id"`
	URL                 string  `json:"url"`
	HTMLURL             string  `json:"html_url"`
	Name                string  `json:"name"`
	Slug                string  `json:"slug"`
	Description         *string `json:"description"`
	Privacy             string  `json:"privacy"`
	NotificationSetting string  `json:"notification_setting"`
	Permission          string  `json:"permission"`
	MembersURL          string  `json:"members_url"`
	RepositoriesURL     string  `json:"repositories_url"`
	Parent              *string `json:"parent"`
}

// entTeamJSON is GitHub's enterprise-team object.
type entTeamJSON struct {
	ID                        int64   `json:"id"`
	Name                      string  `json:"name"`
	Description               *string `json:"description"`
	Slug                      string  `json:"slug"`
	URL                       string  `json:"url"`
	SyncToOrganizations       string  `json:"sync_to_organizations"`
	OrganizationSelectionType string  `json:"organization_selection_type"`
	GroupID                   *string `json:"group_id"`
	GroupName                 *string `json:"group_name"`
	HTMLURL                   string  `json:"html_url"`
	MembersURL                string  `json:"members_url"`
	CreatedAt                 string  `json:"created_at"`
	UpdatedAt                 string  `json:"updated_at"`
}

type accessTokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
}

type rateJSON struct {
	Limit     int   `json:"limit"`
	Used      int   `json:"used"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"`
}

func nodeID(kind string, id int64) string {
	return b64std("04:" + kind + strconv.FormatInt(id, 10))
}

func (s *Server) ts(t time.Time) string { return t.In(s.opts.Location).Format(time.RFC3339) }

func (s *Server) tsPtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := s.ts(t)
	return &v
}

// renderSeat renders one seat object. Needs s.mu.
func (s *Server) renderSeat(base string, sc scope, st *seat) seatJSON {
	out := seatJSON{
		CreatedAt: s.ts(st.created), UpdatedAt: s.ts(st.updated),
		LastActivityAt: s.tsPtr(st.lastActivity), LastAuthenticatedAt: s.tsPtr(st.lastAuth),
		PlanType: st.plan,
	}
	if !st.pending.IsZero() {
		d := st.pending.Format(time.DateOnly)
		out.PendingCancellationDate = &d
	}
	if !st.lastActivity.IsZero() && st.editor != "" {
		e := st.editor
		out.LastActivityEditor = &e
	}
	if u := s.users[st.login]; u != nil && !u.deleted {
		out.Assignee = renderUser(base, u)
	}
	if sc.org != nil {
		out.Organization = renderOrg(base, sc.org)
		if len(st.teams) > 0 {
			if t := sc.org.teams[st.teams[0]]; t != nil {
				out.AssigningTeam = renderTeam(base, t)
			}
		}
	} else {
		out.AssigningTeam = s.renderEntTeam(base, sc.ent)
	}
	return out
}

func renderUser(base string, u *user) *userJSON {
	api := base + "/users/" + url.PathEscape(u.login)
	return &userJSON{
		Login: u.login, ID: u.id, NodeID: nodeID("User", u.id),
		AvatarURL:         base + "/avatars/u/" + strconv.FormatInt(u.id, 10) + "?v=4",
		URL:               api,
		HTMLURL:           base + "/" + url.PathEscape(u.login),
		FollowersURL:      api + "/followers",
		FollowingURL:      api + "/following{/other_user}",
		GistsURL:          api + "/gists{/gist_id}",
		StarredURL:        api + "/starred{/owner}{/repo}",
		SubscriptionsURL:  api + "/subscriptions",
		OrganizationsURL:  api + "/orgs",
		ReposURL:          api + "/repos",
		EventsURL:         api + "/events{/privacy}",
		ReceivedEventsURL: api + "/received_events",
		Type:              "User", UserViewType: "public",
	}
}

func renderOrg(base string, o *org) *orgJSON {
	api := base + "/orgs/" + url.PathEscape(o.login)
	return &orgJSON{
		Login: o.login, ID: o.id, NodeID: nodeID("Organization", o.id), URL: api,
		ReposURL: api + "/repos", EventsURL: api + "/events", HooksURL: api + "/hooks",
		IssuesURL: api + "/issues", MembersURL: api + "/members{/member}",
		PublicMembersURL: api + "/public_members{/member}",
		AvatarURL:        base + "/avatars/u/" + strconv.FormatInt(o.id, 10) + "?v=4",
	}
}

func renderTeam(base string, t *team) *teamJSON {
	api := base + "/teams/" + strconv.FormatInt(t.id, 10)
	return &teamJSON{
		ID: t.id, NodeID: nodeID("Team", t.id), URL: api,
		HTMLURL: base + "/orgs/" + url.PathEscape(t.org) + "/teams/" + url.PathEscape(t.slug),
		Name:    t.name, Slug: t.slug, Privacy: "closed", NotificationSetting: "notifications_enabled",
		Permission: "pull", MembersURL: api + "/members{/member}", RepositoriesURL: api + "/repos",
	}
}

func (s *Server) renderEntTeam(base string, t *team) *entTeamJSON {
	ent := url.PathEscape(s.opts.Enterprise)
	name := strings.TrimPrefix(t.slug, "ent:")
	out := &entTeamJSON{
		ID: t.id, Name: t.name, Slug: t.slug,
		URL:                       base + "/enterprises/" + ent + "/teams/" + url.PathEscape(t.slug),
		SyncToOrganizations:       "disabled",
		OrganizationSelectionType: "disabled",
		HTMLURL:                   base + "/enterprises/" + ent + "/teams/" + url.PathEscape(name),
		MembersURL:                base + "/enterprises/" + ent + "/teams/" + url.PathEscape(t.slug) + "/memberships{/member}",
		CreatedAt:                 s.ts(t.created), UpdatedAt: s.ts(t.created),
	}
	if t.groupID != "" {
		g, gn := t.groupID, t.name+" (IdP)"
		out.GroupID, out.GroupName = &g, &gn
	}
	return out
}

func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
