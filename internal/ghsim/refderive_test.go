package ghsim

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ev is one emitted audit event, decoded generically.
type ev map[string]any

func decodeEvs(t *testing.T, raw [][]byte) []ev {
	t.Helper()
	var out []ev
	for _, b := range raw {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var e ev
		if err := d.Decode(&e); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		out = append(out, e)
	}
	return out
}

func (e ev) str(k string) string { s, _ := e[k].(string); return s }

func (e ev) num(k string) int64 {
	n, _ := e[k].(json.Number)
	v, _ := n.Int64()
	return v
}

func (e ev) ts() time.Time { return time.UnixMilli(e.num("@timestamp")).UTC() }

func (e ev) action() string { return e.str("action") }

// commonKeys are on every emitted event.
var commonKeys = []string{"@timestamp", "_document_id", "action", "actor", "actor_id", "actor_ip", "actor_is_bot",
	"actor_location", "business", "business_id", "created_at", "hashed_token", "operation_type",
	"programmatic_access_type", "request_access_security_header", "request_id", "user_agent"}

// specific lists e's keys beyond the common ones, sorted.
func (e ev) specific() []string {
	var out []string
	for k := range e {
		if !slices.Contains(commonKeys, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// refDerive derives seat periods from the emitted events alone, by the
// rules of internal/lifecycle (doc.go) as the truth interprets them. It is
// a second, event-driven statement of the same rules: the simulator's truth
// (kept from its own state changes) must equal it, so the stream carries
// exactly what the truth says.
func refDerive(evs []ev, enterprise string, now time.Time) []Period {
	type grant struct {
		kind, via, team, by string
	}
	type holder struct {
		scope, kind string
		uid         int64
		grants      []grant
		revoked     bool
		periods     []*Period
		leftTeam    bool // the current period's orphan is "left_team"
	}
	holders := map[string]*holder{}
	var order []*holder
	hkey := func(kind, scope string, uid int64) string {
		return kind + "\x00" + scope + "\x00" + strconv.FormatInt(uid, 10)
	}
	get := func(kind, scope string, uid int64) *holder {
		k := hkey(kind, scope, uid)
		h := holders[k]
		if h == nil {
			h = &holder{scope: scope, kind: kind, uid: uid}
			holders[k] = h
			order = append(order, h)
		}
		return h
	}
	find := func(kind, scope string, uid int64) *holder { return holders[hkey(kind, scope, uid)] }
	cur := func(h *holder) *Period {
		if h == nil || len(h.periods) == 0 {
			return nil
		}
		return h.periods[len(h.periods)-1]
	}
	open := func(p *Period) bool { return p != nil && p.End == nil }
	settle := func(h *holder, at time.Time) {
		if p := cur(h); open(p) && p.PendingFrom != nil && !at.Before(*p.BillableUntil) {
			p.End, p.EndReason = tp(*p.BillableUntil), EndCancelled
		}
	}
	billable := func(p *Period, at time.Time) bool {
		if at.Before(p.Start) {
			return false
		}
		if p.BillableUntil != nil {
			return at.Before(*p.BillableUntil)
		}
		return p.End == nil || at.Before(*p.End)
	}
	orphan := func(h *holder, p *Period, at time.Time, reason string) {
		if !billable(p, at) {
			return
		}
		switch {
		case p.OrphanedSince == nil:
			p.OrphanedSince, p.OrphanReason = tp(at), reason
			if p == cur(h) {
				h.leftTeam = reason == OrphanLeftTeam
			}
		case reason == OrphanDeprovisioned && p.OrphanReason == OrphanSuspended:
			p.OrphanReason = reason
		}
	}
	plans := map[string]string{}
	start := func(h *holder, g grant, at time.Time) {
		p := &Period{Scope: h.scope, ScopeKind: h.kind, UserID: h.uid, Via: g.via, Team: g.team, GrantedBy: g.by, Start: at}
		if h.kind == ScopeOrg {
			p.Plan = plans[h.scope]
		}
		h.periods = append(h.periods, p)
		h.leftTeam = false
	}
	addGrant := func(h *holder, g grant, at time.Time) {
		if !slices.ContainsFunc(h.grants, func(x grant) bool { return x.kind == g.kind }) {
			h.grants = append(h.grants, g)
		}
		settle(h, at)
		p := cur(h)
		switch {
		case h.revoked:
		case open(p):
			p.PendingFrom, p.BillableUntil = nil, nil
			if h.leftTeam {
				p.OrphanedSince, p.OrphanReason, h.leftTeam = nil, "", false
			}
			if p.Via == ViaSeat && (g.via == ViaTeam || g.via == ViaAllMembers) && at.Sub(p.Start) <= time.Minute {
				p.Via, p.Team, p.GrantedBy = g.via, g.team, g.by
			}
		default:
			start(h, g, at)
		}
	}
	// endGrant reports whether the period went pending.
	endGrant := func(h *holder, kind string, at time.Time) bool {
		if h == nil {
			return false
		}
		i := slices.IndexFunc(h.grants, func(x grant) bool { return x.kind == kind })
		if i < 0 {
			return false
		}
		h.grants = slices.Delete(h.grants, i, i+1)
		settle(h, at)
		p := cur(h)
		if len(h.grants) > 0 || h.revoked || !open(p) || p.PendingFrom != nil {
			return false
		}
		p.PendingFrom, p.BillableUntil = tp(at), tp(nextMonth(at))
		return true
	}
	removed := func(h *holder, at time.Time, reason, orph string) {
		if h == nil {
			return
		}
		h.grants = nil
		settle(h, at)
		if p := cur(h); open(p) {
			p.End, p.EndReason = tp(at), reason
			if p.BillableUntil == nil {
				p.BillableUntil = tp(nextMonth(at))
			}
		}
		for _, p := range h.periods {
			orphan(h, p, at, orph)
		}
	}

	setting := map[string]string{}
	orgMembers := map[string]map[int64]bool{}
	teamMembers := map[string]map[int64]bool{} // "org/slug" and "ent:slug"
	teamCopilot := map[string]string{}         // team → who assigned it
	members := func(m map[string]map[int64]bool, k string) map[int64]bool {
		if m[k] == nil {
			m[k] = map[int64]bool{}
		}
		return m[k]
	}
	sortedIDs := func(m map[int64]bool) []int64 {
		var out []int64
		for id, ok := range m {
			if ok {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	logins := map[int64]string{}
	scopeOf := func(e ev) (string, string) {
		if o := e.str("org"); o != "" {
			return ScopeOrg, o
		}
		return ScopeEnterprise, enterprise
	}

	for _, e := range evs {
		at, act, actor, uid := e.ts(), e.action(), e.str("actor"), e.num("user_id")
		if uid != 0 && e.str("user") != "" && act != "user.rename" {
			if _, ok := logins[uid]; !ok {
				logins[uid] = e.str("user")
			}
		}
		org, team, ent := e.str("org"), e.str("team"), e.str("enterprise_team")
		switch act {
		case "copilot.plan_changed":
			plans[org] = e.str("plan")
		case "copilot.cfb_seat_management_changed":
			old, nw := e.str("old_value"), e.str("new_value")
			setting[org] = nw
			switch {
			case nw == AssignAll:
				for _, id := range sortedIDs(orgMembers[org]) {
					addGrant(get(ScopeOrg, org, id), grant{"all", ViaAllMembers, "", actor}, at)
				}
			case nw == AssignSelected && old == AssignAll:
				for _, h := range order {
					if h.kind == ScopeOrg && h.scope == org {
						for i := range h.grants {
							if h.grants[i].kind == "all" {
								if slices.ContainsFunc(h.grants, func(x grant) bool { return x.kind == "direct" }) {
									h.grants = slices.Delete(h.grants, i, i+1)
								} else {
									h.grants[i].kind = "direct"
								}
								break
							}
						}
					}
				}
			case nw == Disabled || nw == Unconfigured:
				for k := range teamCopilot {
					if strings.HasPrefix(k, org+"/") {
						delete(teamCopilot, k)
					}
				}
				for _, h := range order {
					if h.kind == ScopeOrg && h.scope == org {
						for len(h.grants) > 0 {
							endGrant(h, h.grants[0].kind, at)
						}
					}
				}
			}
		case "org.add_member":
			members(orgMembers, org)[uid] = true
			if setting[org] == AssignAll {
				addGrant(get(ScopeOrg, org, uid), grant{"all", ViaAllMembers, "", actor}, at)
			}
		case "org.remove_member":
			delete(orgMembers[org], uid)
			for k, m := range teamMembers {
				if strings.HasPrefix(k, org+"/") {
					delete(m, uid)
				}
			}
			removed(find(ScopeOrg, org, uid), at, EndLeftOrg, OrphanLeftOrg)
		case "team.add_member":
			members(teamMembers, team)[uid] = true
			if _, ok := teamCopilot[team]; ok {
				addGrant(get(ScopeOrg, org, uid), grant{"team:" + team, ViaTeam, team, actor}, at)
			}
		case "team.remove_member":
			delete(teamMembers[team], uid)
			h := find(ScopeOrg, org, uid)
			if endGrant(h, "team:"+team, at) {
				orphan(h, cur(h), at, OrphanLeftTeam) // cleared by an unassignment that follows
			}
		case "enterprise_team.add_member":
			members(teamMembers, ent)[uid] = true
			if _, ok := teamCopilot[ent]; ok {
				addGrant(get(ScopeEnterprise, enterprise, uid), grant{ent, ViaEnterpriseTeam, ent, actor}, at)
			}
		case "enterprise_team.remove_member":
			delete(teamMembers[ent], uid)
			if _, ok := teamCopilot[ent]; ok {
				h := find(ScopeEnterprise, enterprise, uid)
				if h != nil && slices.ContainsFunc(h.grants, func(x grant) bool { return x.kind == ent }) {
					if len(h.grants) > 1 {
						h.grants = slices.DeleteFunc(h.grants, func(x grant) bool { return x.kind == ent })
					} else {
						removed(h, at, EndLeftEnterpriseTeam, OrphanLeftEnterpriseTeam)
					}
				}
			}
		case "enterprise_team.copilot_assignment":
			teamCopilot[ent] = actor
			for _, id := range sortedIDs(teamMembers[ent]) {
				addGrant(get(ScopeEnterprise, enterprise, id), grant{ent, ViaEnterpriseTeam, ent, actor}, at)
			}
		case "enterprise_team.copilot_unassignment":
			delete(teamCopilot, ent)
			for _, id := range sortedIDs(teamMembers[ent]) {
				endGrant(find(ScopeEnterprise, enterprise, id), ent, at)
			}
		case "business.remove_member":
			for _, m := range orgMembers {
				delete(m, uid)
			}
			for _, m := range teamMembers {
				delete(m, uid)
			}
			for _, h := range order {
				if h.uid == uid {
					removed(h, at, EndLeftEnterprise, OrphanLeftEnterprise)
				}
			}
		case "user.suspend", "external_identity.deprovision":
			reason := OrphanSuspended
			if act != "user.suspend" {
				reason = OrphanDeprovisioned
			}
			for _, h := range order {
				if h.uid == uid {
					settle(h, at)
					for _, p := range h.periods {
						orphan(h, p, at, reason)
					}
				}
			}
		case "user.rename":
			logins[uid] = e.str("user")
		case "copilot.cfb_seat_assignment_created":
			if team != "" {
				teamCopilot[team] = actor
				for _, id := range sortedIDs(teamMembers[team]) {
					addGrant(get(ScopeOrg, org, id), grant{"team:" + team, ViaTeam, team, actor}, at)
				}
			} else {
				addGrant(get(ScopeOrg, org, uid), grant{"direct", ViaDirect, "", actor}, at)
			}
		case "copilot.cfb_seat_assignment_reused":
			addGrant(get(ScopeOrg, org, uid), grant{"direct", ViaDirect, "", actor}, at)
		case "copilot.cfb_seat_assignment_unassigned":
			if team != "" {
				delete(teamCopilot, team)
				for _, id := range sortedIDs(teamMembers[team]) {
					endGrant(find(ScopeOrg, org, id), "team:"+team, at)
				}
				break
			}
			kind, scope := scopeOf(e)
			h := find(kind, scope, uid)
			if h == nil {
				break
			}
			settle(h, at)
			if p := cur(h); open(p) && h.leftTeam {
				p.OrphanedSince, p.OrphanReason, h.leftTeam = nil, "", false
			}
			// direct and "seat" grants both end with it.
			endGrant(h, "direct", at)
			endGrant(h, "seat", at)
		case "copilot.cfb_seat_added", "copilot.cfb_seat_assignment_refreshed":
			kind, scope := scopeOf(e)
			h := get(kind, scope, uid)
			if len(h.grants) == 0 {
				addGrant(h, grant{"seat", ViaSeat, "", actor}, at)
			}
		case "copilot.cfb_seat_cancelled":
			kind, scope := scopeOf(e)
			h := find(kind, scope, uid)
			settle(h, at)
			if p := cur(h); open(p) {
				end := at
				if p.BillableUntil != nil && p.BillableUntil.Before(at) {
					end = *p.BillableUntil
				}
				p.End, p.EndReason = tp(end), EndCancelled
			}
		case "copilot.user_access_revoked":
			h := get(ScopeOrg, org, uid)
			h.revoked = true
			settle(h, at)
			if p := cur(h); open(p) {
				p.End, p.EndReason = tp(at), EndAccessRevoked
				if p.BillableUntil == nil {
					p.BillableUntil = tp(nextMonth(at))
				}
			}
		case "copilot.user_access_reinstated":
			h := get(ScopeOrg, org, uid)
			h.revoked = false
			settle(h, at)
			if len(h.grants) > 0 && !open(cur(h)) {
				start(h, h.grants[0], at)
			}
		case "copilot.access_revoked":
			for k := range teamCopilot {
				if strings.HasPrefix(k, org+"/") {
					delete(teamCopilot, k)
				}
			}
			for _, h := range order {
				if h.kind == ScopeOrg && h.scope == org {
					h.grants = nil
					settle(h, at)
					if p := cur(h); open(p) {
						p.End, p.EndReason, p.BillableUntil = tp(at), EndScopeRevoked, tp(at)
					}
				}
			}
		}
	}
	var out []Period
	for _, h := range order {
		settle(h, now)
		for _, p := range h.periods {
			q := *p
			q.Login = logins[h.uid]
			out = append(out, q)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		if a.UserID != b.UserID {
			return a.UserID < b.UserID
		}
		return a.Start.Before(b.Start)
	})
	return out
}
