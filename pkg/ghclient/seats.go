package ghclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Team is the team (an org team or an enterprise team) a seat came through.
type Team struct {
	ID         int64
	Slug, Name string
	Enterprise bool // an enterprise team (not an org team)
}

// Seat is one Copilot seat record, decoded leniently: fields GitHub sends
// as null (or in an unexpected form) are left empty.
type Seat struct {
	Org    string // the org the seat is billed in (enterprise lists: the seat's organization, "" when null)
	Login  string // assignee login ("" when the assignee is null)
	UserID int64
	// AssigneeType: User, Team or Organization as GitHub names it, any other
	// value verbatim, "" when the assignee is null.
	AssigneeType        string
	PlanType            string // business | enterprise | unknown | ""
	AssigningTeam       *Team  // nil when assigned directly
	PendingCancellation *time.Time
	LastActivityAt      *time.Time
	LastActivityEditor  string
	LastAuthenticatedAt *time.Time
	CreatedAt           time.Time
	UpdatedAt           *time.Time // deprecated by GitHub
}

// Billing is an org's Copilot billing summary (GET /orgs/{org}/copilot/billing).
type Billing struct {
	SeatManagementSetting string // assign_all | assign_selected | disabled | unconfigured
	PlanType              string // business | enterprise | ...
	PublicCodeSuggestions string
	IDEChat               string
	PlatformChat          string
	CLI                   string
	Seats                 SeatBreakdown
}

// SeatBreakdown counts an org's seats.
type SeatBreakdown struct {
	Total, AddedThisCycle, PendingCancellation, PendingInvitation, ActiveThisCycle, InactiveThisCycle int
}

// PerPage is the page size of seat lists (GitHub's maximum).
const PerPage = 100

// ---------------------------------------------------------------- endpoints

// UserSeat fetches one user's seat (GET /orgs/{org}/members/{login}/copilot).
// ErrNoSeat on 404, *PolicyError on 422.
func (c *Client) UserSeat(ctx context.Context, org, login string) (Seat, error) {
	var raw json.RawMessage
	path := "orgs/" + url.PathEscape(org) + "/members/" + url.PathEscape(login) + "/copilot"
	_, err := c.get(ctx, path, &raw)
	if err != nil {
		return Seat{}, c.seatErr(err, org, login)
	}
	s, problems, derr := decodeSeat(raw, org)
	if derr != nil {
		return Seat{}, &TransportError{Method: http.MethodGet, Path: pathOnly(path), Msg: "undecodable seat: " + derr.Error()}
	}
	if s.Login == "" {
		s.Login = login
	}
	c.logProblems(org, 0, 0, problems)
	return s, nil
}

func (c *Client) seatErr(err error, org, login string) error {
	var pe *PolicyError
	var api *APIError
	switch {
	case errors.As(err, &pe):
		pe.Org, pe.Login = org, login
		return pe
	case errors.As(err, &api) && api.Status == http.StatusNotFound && login != "":
		return fmt.Errorf("%s/%s: %w", org, login, ErrNoSeat)
	}
	return err
}

// OrgSeats lists every seat of an org (GET /orgs/{org}/copilot/billing/seats,
// 100 a page, following the Link header) and calls fn for each. total is
// GitHub's total_seats. An error from fn stops the listing and is returned.
func (c *Client) OrgSeats(ctx context.Context, org string, fn func(Seat) error) (total int, err error) {
	err = c.pages(ctx, orgSeatsPath(org), org, org, 1, func(p seatPage) (bool, error) {
		total = p.Total
		for _, s := range p.Seats {
			if err := fn(s); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	return total, err
}

// EnterpriseSeats lists every seat of an enterprise
// (GET /enterprises/{enterprise}/copilot/billing/seats): one record per
// granting org or enterprise team, while total (total_seats) counts a user
// once.
func (c *Client) EnterpriseSeats(ctx context.Context, enterprise string, fn func(Seat) error) (total int, err error) {
	err = c.pages(ctx, "enterprises/"+url.PathEscape(enterprise)+"/copilot/billing/seats", "", enterprise, 1, func(p seatPage) (bool, error) {
		total = p.Total
		for _, s := range p.Seats {
			if err := fn(s); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	return total, err
}

// OrgBilling fetches an org's Copilot billing summary. *PolicyError on 422.
func (c *Client) OrgBilling(ctx context.Context, org string) (Billing, error) {
	var m map[string]json.RawMessage
	if _, err := c.get(ctx, "orgs/"+url.PathEscape(org)+"/copilot/billing", &m); err != nil {
		return Billing{}, c.seatErr(err, org, "")
	}
	b := Billing{
		SeatManagementSetting: rawString(m["seat_management_setting"]),
		PlanType:              rawString(m["plan_type"]),
		PublicCodeSuggestions: rawString(m["public_code_suggestions"]),
		IDEChat:               rawString(m["ide_chat"]),
		PlatformChat:          rawString(m["platform_chat"]),
		CLI:                   rawString(m["cli"]),
	}
	if b.IDEChat == "" {
		b.IDEChat = rawString(m["copilot_chat"])
	}
	var sb map[string]json.RawMessage
	if json.Unmarshal(m["seat_breakdown"], &sb) == nil {
		b.Seats = SeatBreakdown{
			Total:               int(rawInt(sb["total"])),
			AddedThisCycle:      int(rawInt(sb["added_this_cycle"])),
			PendingCancellation: int(rawInt(sb["pending_cancellation"])),
			PendingInvitation:   int(rawInt(sb["pending_invitation"])),
			ActiveThisCycle:     int(rawInt(sb["active_this_cycle"])),
			InactiveThisCycle:   int(rawInt(sb["inactive_this_cycle"])),
		}
	}
	return b, nil
}

func orgSeatsPath(org string) string {
	return "orgs/" + url.PathEscape(org) + "/copilot/billing/seats"
}

// ---------------------------------------------------------------- pagination

type seatPage struct {
	Number    int
	Total     int // total_seats
	Seats     []Seat
	Raw       int // seat records on the page, decodable or not
	Next      int // 0 on the last page
	Last      int // from Link rel="last", 0 when absent
	FetchedAt time.Time
}

// pages walks a seat list from page start, calling fn per page until the last
// page or until fn says stop. org fills Seat.Org ("" for enterprise lists:
// each seat's organization); who names the org/enterprise in errors.
func (c *Client) pages(ctx context.Context, base, org, who string, start int, fn func(seatPage) (bool, error)) error {
	n := max(start, 1)
	for seen := 0; ; seen++ {
		var body struct {
			TotalSeats json.RawMessage   `json:"total_seats"`
			Seats      []json.RawMessage `json:"seats"`
		}
		path := base + "?per_page=" + strconv.Itoa(PerPage) + "&page=" + strconv.Itoa(n)
		resp, err := c.get(ctx, path, &body)
		if err != nil {
			return c.seatErr(err, who, "")
		}
		p := seatPage{Number: n, Total: int(rawInt(body.TotalSeats)), Raw: len(body.Seats), Next: resp.NextPage, Last: resp.LastPage, FetchedAt: time.Now()}
		for i, raw := range body.Seats {
			s, problems, derr := decodeSeat(raw, org)
			if derr != nil {
				c.log.Warn("github seat record skipped", slog.String("org", org), slog.Int("page", n), slog.Int("index", i), slog.String("problem", derr.Error()))
				continue
			}
			c.logProblems(org, n, i, problems)
			p.Seats = append(p.Seats, s)
		}
		if resp.Header.Get("Link") == "" && len(body.Seats) >= PerPage && p.Total > n*PerPage {
			p.Next = n + 1 // a server that does not send Link: go by total_seats
		}
		if p.Next <= n || seen > 100000 {
			p.Next = 0
		}
		cont, err := fn(p)
		if err != nil || !cont || p.Next == 0 {
			return err
		}
		n = p.Next
	}
}

func (c *Client) logProblems(org string, page, index int, problems []string) {
	for _, pr := range problems {
		c.log.Debug("github seat record: odd field", slog.String("org", org), slog.Int("page", page), slog.Int("index", index), slog.String("problem", pr))
	}
}

// ---------------------------------------------------------------- decoding

// decodeSeat decodes one seat record. It fails only when raw is not a JSON
// object; odd fields are left empty and described in problems.
func decodeSeat(raw json.RawMessage, org string) (Seat, []string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return Seat{}, nil, errors.New("seat record is not a JSON object")
	}
	var problems []string
	note := func(f string, raw json.RawMessage) {
		problems = append(problems, fmt.Sprintf("%s: unexpected %.40s", f, string(raw)))
	}
	s := Seat{Org: org}
	if o := rawObject(m["organization"]); o != nil {
		if l := rawString(o["login"]); l != "" && org == "" {
			s.Org = l
		}
	}
	if a := m["assignee"]; !isNull(a) {
		if o := rawObject(a); o != nil {
			s.Login = rawString(o["login"])
			s.UserID = rawInt(o["id"])
			s.AssigneeType = rawString(o["type"])
			if s.AssigneeType == "" {
				switch {
				case s.Login != "":
					s.AssigneeType = "User"
				case rawString(o["slug"]) != "":
					s.AssigneeType = "Team"
				}
			}
			if s.Login == "" {
				s.Login = rawString(o["slug"])
			}
			if s.Login == "" {
				s.Login = rawString(o["name"])
			}
		} else {
			note("assignee", a)
		}
	}
	if t := m["assigning_team"]; !isNull(t) {
		if o := rawObject(t); o != nil {
			s.AssigningTeam = &Team{
				ID:         rawInt(o["id"]),
				Slug:       rawString(o["slug"]),
				Name:       rawString(o["name"]),
				Enterprise: isEnterpriseTeam(o),
			}
		} else {
			note("assigning_team", t)
		}
	}
	s.PlanType = rawString(m["plan_type"])
	s.LastActivityEditor = rawString(m["last_activity_editor"])
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{
		{"pending_cancellation_date", &s.PendingCancellation},
		{"last_activity_at", &s.LastActivityAt},
		{"last_authenticated_at", &s.LastAuthenticatedAt},
		{"updated_at", &s.UpdatedAt},
	} {
		t, ok := rawTime(m[f.name])
		if !ok {
			note(f.name, m[f.name])
		}
		*f.dst = t
	}
	if t, ok := rawTime(m["created_at"]); !ok {
		note("created_at", m["created_at"])
	} else if t != nil {
		s.CreatedAt = *t
	}
	return s, problems, nil
}

// isEnterpriseTeam: GitHub's enterprise-team object lives under
// /enterprises/ and carries sync_to_organizations / group_id, an org team
// lives under /orgs/ and carries privacy / permission.
func isEnterpriseTeam(o map[string]json.RawMessage) bool {
	for _, k := range []string{"url", "html_url", "members_url"} {
		if strings.Contains(rawString(o[k]), "/enterprises/") {
			return true
		}
	}
	if _, ok := o["sync_to_organizations"]; ok {
		return true
	}
	if _, ok := o["enterprise_id"]; ok {
		return true
	}
	switch strings.ToLower(rawString(o["type"])) {
	case "enterprise", "enterprise_team", "enterpriseteam":
		return true
	}
	return strings.HasPrefix(rawString(o["slug"]), "ent:")
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func rawObject(raw json.RawMessage) map[string]json.RawMessage {
	if isNull(raw) {
		return nil
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return o
}

// rawString: a JSON string (or a number, as text); "" for null or anything else.
func rawString(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// rawInt: a JSON number or numeric string; 0 otherwise.
func rawInt(raw json.RawMessage) int64 {
	if isNull(raw) {
		return 0
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		n = json.Number(strings.TrimSpace(s))
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil {
		return int64(f)
	}
	return 0
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 MST",
	"2006-01-02 15:04:05",
	time.DateOnly,
}

// rawTime: nil for null/absent/""; ok=false when present but unparseable.
// Accepts RFC 3339, a date (YYYY-MM-DD) and Unix seconds or milliseconds.
func rawTime(raw json.RawMessage) (*time.Time, bool) {
	if isNull(raw) {
		return nil, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, true
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				t = t.UTC()
				return &t, true
			}
		}
		return nil, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if f, err := n.Float64(); err == nil && f > 0 {
			var t time.Time
			if f > 1e12 {
				t = time.UnixMilli(int64(f)).UTC()
			} else {
				t = time.Unix(int64(f), 0).UTC()
			}
			return &t, true
		}
	}
	return nil, false
}
