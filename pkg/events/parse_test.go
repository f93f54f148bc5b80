package events

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// realOrgAddMember is the real streamed event from shared/reference/github-facts.md.
const realOrgAddMember = `{"@timestamp":1692655003441,"_document_id":"l-qlCkgECpbC74A-ELsoJA","action":"org.add_member","actor":"github-actor","actor_id":34525324,"business":"big-biz","business_id":23462,"created_at":1692655003441,"operation_type":"create","org":"github-org","org_id":34151345,"permission":"admin","user":"github_user","user_agent":"Mozilla/5.0 ...","user_id":4562345}`

// seatEvent600 is a typical ~600-byte Copilot seat event.
const seatEvent600 = `{"@timestamp":1709251200123,"_document_id":"Zq3mWv0x9bT1kR7yLp2s4A","action":"copilot.cfb_seat_added","actor":"octo-admin","actor_id":583231,"actor_is_bot":false,"actor_location":{"country_code":"US"},"actor_ip":"203.0.113.17","business":"acme-corp","business_id":4242,"created_at":1709251200123,"operation_type":"create","org":"acme-platform","org_id":91234567,"user":"monalisa","user_id":1048576,"user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36","request_id":"C0DE:3A1F:8B2E41:9D3C77:65E1A2B0","hashed_token":"","programmatic_access_type":"","external_identity_nameid":"monalisa@acme.example","request_access_security_header":null}`

// noiseEvent600 is a typical ~600-byte non-Copilot event (git.clone).
const noiseEvent600 = `{"@timestamp":1709251200123,"_document_id":"Xk2mWv0x9bT1kR7yLp2s4B","action":"git.clone","actor":"dev-ramirez","actor_id":7712093,"actor_is_bot":false,"actor_location":{"country_code":"BR"},"actor_ip":"198.51.100.23","business":"acme-corp","business_id":4242,"created_at":1709251200123,"operation_type":"access","org":"acme-platform","org_id":91234567,"repo":"acme-platform/payments-service","repo_id":612345678,"repository":"acme-platform/payments-service","repository_public":false,"transport_protocol":1,"transport_protocol_name":"http","user_agent":"git/2.43.0 (Linux; x86_64) libgit2/1.7.1","hashed_token":"r2HbYvLJhPqQ5mK8sT0wXzA4cE7fG1iJ9kL3nO6pR5U=","programmatic_access_type":"OAuth access token","token_id":881234509,"request_id":"C0DE:3A1F:8B2E41:9D3C77:65E1A2B9"}`

func mustParse(t *testing.T, rec string) Event {
	t.Helper()
	ev, err := Parse([]byte(rec))
	if err != nil {
		t.Fatalf("Parse(%s): %v", rec, err)
	}
	return ev
}

func TestParseSeatEvent(t *testing.T) {
	ev := mustParse(t, "  \r\n"+seatEvent600+"\n")
	want := Event{
		DocumentID: "Zq3mWv0x9bT1kR7yLp2s4A",
		Timestamp:  time.UnixMilli(1709251200123).UTC(),
		CreatedAt:  time.UnixMilli(1709251200123).UTC(),
		Action:     "copilot.cfb_seat_added",
		Transition: TransitionAssigned,
		Actor:      "octo-admin", ActorID: 583231,
		User: "monalisa", UserID: 1048576,
		Org: "acme-platform", OrgID: 91234567,
		Business: "acme-corp", BusinessID: 4242,
		OperationType:          "create",
		ActorIP:                "203.0.113.17",
		ActorCountry:           "US",
		UserAgent:              "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
		RequestID:              "C0DE:3A1F:8B2E41:9D3C77:65E1A2B0",
		ExternalIdentityNameID: "monalisa@acme.example",
	}
	if string(ev.Raw) != seatEvent600 {
		t.Errorf("Raw = %q, want the trimmed record", ev.Raw)
	}
	ev.Raw = nil
	if fmt.Sprintf("%+v", ev) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
	if ev.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp not UTC")
	}
}

// The real org.add_member of github-facts.md is a membership change:
// admitted (membership_events), not a seat transition.
func TestParseRealOrgAddMember(t *testing.T) {
	rec := []byte(realOrgAddMember)
	if !MaybeSeatEvent(rec) {
		t.Errorf("MaybeSeatEvent(org.add_member) = false, want true")
	}
	ev := mustParse(t, realOrgAddMember)
	if ev.Membership != OrgMemberAdded || ev.Transition != TransitionOther || ev.Org != "github-org" || ev.User != "github_user" ||
		ev.UserID != 4562345 || ev.Actor != "github-actor" || ev.Business != "big-biz" {
		t.Errorf("membership event = %+v", ev)
	}
	noise := strings.Replace(realOrgAddMember, "org.add_member", "org.update_member", 1)
	if _, err := Parse([]byte(noise)); !errors.Is(err, ErrNotSeatEvent) {
		t.Errorf("org.update_member: err = %v, want ErrNotSeatEvent", err)
	} else if _, isInvalid := ReasonOf(err); isInvalid {
		t.Errorf("ErrNotSeatEvent must not be an InvalidError")
	}
}

// TestReferenceActions: every action of github-facts.md's tables, with
// its meaning.
func TestReferenceActions(t *testing.T) {
	for action, want := range map[string]Transition{
		"copilot.cfb_seat_added":                          TransitionAssigned,
		"copilot.cfb_seat_assignment_created":             TransitionAssigned,
		"copilot.cfb_seat_assignment_refreshed":           TransitionRefreshed,
		"copilot.cfb_seat_assignment_reused":              TransitionReused,
		"copilot.cfb_seat_assignment_unassigned":          TransitionUnassigned,
		"copilot.cfb_seat_cancelled":                      TransitionCancelled,
		"copilot.cfb_seat_cancelled_by_staff":             TransitionCancelledByStaff,
		"copilot.cfb_seat_management_changed":             TransitionPolicyChanged,
		"copilot.cfb_enterprise_org_enablement_changed":   TransitionPolicyChanged,
		"copilot.enterprise_enablement_changed":           TransitionPolicyChanged,
		"copilot.cfb_org_settings_changed":                TransitionPolicyChanged,
		"copilot.cfb_enterprise_settings_changed":         TransitionPolicyChanged,
		"copilot.content_exclusion_changed":               TransitionPolicyChanged,
		"copilot.plan_changed":                            TransitionPlanChanged,
		"copilot.plan_downgrade_scheduled":                TransitionPlanChanged,
		"copilot.access_revoked":                          TransitionScopeRevoked,
		"copilot.user_access_revoked":                     TransitionAccessRevoked,
		"copilot.user_access_reinstated":                  TransitionAccessReinstated,
		"enterprise_team.copilot_assignment":              TransitionLicenceGranted,
		"enterprise_team.copilot_unassignment":            TransitionLicenceRemoved,
		"copilot.swe_agent_repo_enablement_updated":       TransitionOther,
		"copilot.code_review_repository_settings_updated": TransitionOther,
		"copilot.custom_instructions_updated":             TransitionOther,
		"copilot.memory_user_opt_out":                     TransitionOther,
		"copilot.clickwrap_save_event":                    TransitionOther,
		"copilot.knowledge_base_created":                  TransitionOther,
		// The API brief's names.
		"copilot.seat_assignment_created":   TransitionAssigned,
		"copilot.seat_assignment_cancelled": TransitionUnassigned,
		"copilot.seat_assignment_updated":   TransitionUpdated,
		"business.add_seats":                TransitionAssigned,
		"business.remove_seats":             TransitionUnassigned,
	} {
		rec := fmt.Sprintf(`{"@timestamp":1709251200000,"_document_id":"abc","action":%q,"user":"u","org":"o"}`, action)
		if !MaybeSeatEvent([]byte(rec)) {
			t.Errorf("%s: the pre-filter drops it", action)
		}
		ev := mustParse(t, rec)
		if ev.Transition != want || ev.Membership != MembershipNone {
			t.Errorf("%s: %v/%v, want %v", action, ev.Transition, ev.Membership, want)
		}
	}
	for action, want := range map[string]Membership{
		"team.add_member": TeamMemberAdded, "team.remove_member": TeamMemberRemoved,
		"org.add_member": OrgMemberAdded, "org.remove_member": OrgMemberRemoved,
		"business.remove_member":     EnterpriseMemberRemoved,
		"enterprise_team.add_member": EnterpriseTeamMemberAdded, "enterprise_team.remove_member": EnterpriseTeamMemberRemoved,
		"external_identity.deprovision": Deprovisioned, "user.suspend": Suspended, "user.unsuspend": Unsuspended, "user.rename": Renamed,
	} {
		rec := fmt.Sprintf(`{"@timestamp":1709251200000,"_document_id":"abc","action":%q,"user":"u","org":"o","team":"o/devs","enterprise_team":"ent:ai","old_login":"old-u"}`, action)
		if !MaybeSeatEvent([]byte(rec)) {
			t.Errorf("%s: the pre-filter drops it", action)
		}
		ev := mustParse(t, rec)
		if ev.Membership != want || ev.Transition != TransitionOther || ev.Team != "o/devs" || ev.EnterpriseTeam != "ent:ai" || ev.OldLogin != "old-u" {
			t.Errorf("%s: %+v", action, ev)
		}
	}
}

// TestPolicyAndPlanValues: the values of policy and plan changes land in
// the typed fields whichever names GitHub used.
func TestPolicyAndPlanValues(t *testing.T) {
	for _, tc := range []struct{ rec, old, new, oldPlan, newPlan string }{
		{`"action":"copilot.cfb_seat_management_changed","old_value":"assign_selected","new_value":"assign_all"`, "assign_selected", "assign_all", "", ""},
		{`"action":"copilot.cfb_seat_management_changed","previous_value":"disabled","new_value":"assign_selected"`, "disabled", "assign_selected", "", ""},
		{`"action":"copilot.cfb_enterprise_org_enablement_changed","previous_value":"all","current_value":"selected"`, "all", "selected", "", ""},
		{`"action":"copilot.enterprise_enablement_changed","previous_value":"enabled","current_value":"disabled"`, "enabled", "disabled", "", ""},
		{`"action":"copilot.plan_changed","old_plan":"business","plan":"enterprise"`, "business", "enterprise", "business", "enterprise"},
		{`"action":"copilot.plan_downgrade_scheduled","current_plan":"enterprise","scheduled_plan":"business"`, "enterprise", "business", "enterprise", "business"},
	} {
		ev := mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p",`+tc.rec+`}`)
		if ev.OldValue != tc.old || ev.NewValue != tc.new || ev.OldPlan != tc.oldPlan || ev.NewPlan != tc.newPlan {
			t.Errorf("%s: old/new %q/%q, plans %q/%q", tc.rec, ev.OldValue, ev.NewValue, ev.OldPlan, ev.NewPlan)
		}
	}
}

func TestEveryKnownActionClassifies(t *testing.T) {
	for _, a := range KnownActions() {
		want, _ := Classify(a)
		rec := fmt.Sprintf(`{"@timestamp":1709251200000,"_document_id":"abc","action":%q,"user":"u","org":"o"}`, a)
		if !MaybeSeatEvent([]byte(rec)) {
			t.Errorf("MaybeSeatEvent false for known action %s", a)
		}
		ev := mustParse(t, rec)
		if ev.Transition != want || ev.Action != a {
			t.Errorf("%s: transition %v, want %v", a, ev.Transition, want)
		}
	}
}

func TestUnknownCopilotActionKept(t *testing.T) {
	ev := mustParse(t, `{"@timestamp":1709251200000,"_document_id":"x","action":"copilot.brand_new_thing","surprise":{"a":[1,{"b":null}]},"another":"field"}`)
	if ev.Transition != TransitionOther {
		t.Errorf("transition = %v, want other", ev.Transition)
	}
}

func TestNonCopilotActionFiltered(t *testing.T) {
	for _, a := range []string{"git.clone", "repo.create", "business.add_seat", "copilot", "Copilot.cfb_seat_added", "xcopilot.y"} {
		rec := fmt.Sprintf(`{"@timestamp":1709251200000,"_document_id":"abc","action":%q}`, a)
		if _, err := Parse([]byte(rec)); !errors.Is(err, ErrNotSeatEvent) {
			t.Errorf("%s: err = %v, want ErrNotSeatEvent", a, err)
		}
	}
	// A non-Copilot action is filtered even when other fields are broken.
	rec := `{"@timestamp":"yesterday","action":"git.clone","actor_id":"abc","actor":5}`
	if _, err := Parse([]byte(rec)); !errors.Is(err, ErrNotSeatEvent) {
		t.Errorf("broken non-Copilot event: err = %v, want ErrNotSeatEvent", err)
	}
}

func TestParseActionSpecificFields(t *testing.T) {
	ev := mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p","action":"copilot.plan_changed","old_plan":"business","plan":"enterprise"}`)
	if ev.Transition != TransitionPlanChanged || ev.OldValue != "business" || ev.NewValue != "enterprise" || ev.Plan != "enterprise" {
		t.Errorf("plan event: %+v", ev)
	}
	ev = mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p","action":"copilot.cfb_seat_management_changed","old_value":"assign_selected","new_value":"assign_all"}`)
	if ev.Transition != TransitionPolicyChanged || ev.OldValue != "assign_selected" || ev.NewValue != "assign_all" {
		t.Errorf("policy event: %+v", ev)
	}
	ev = mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p","action":"copilot.cfb_seat_cancelled","seat_assignment":"user:hubot"}`)
	if ev.Transition != TransitionCancelled || ev.SeatAssignment != "user:hubot" {
		t.Errorf("cancel event: %+v", ev)
	}
	ev = mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p","action":"copilot.access_revoked","reason":"payment_failed","plan":"business","owner":"acme","owner_type":"Business"}`)
	if ev.Transition != TransitionScopeRevoked || ev.Reason != "payment_failed" || ev.Plan != "business" || ev.NewValue != "" || ev.Owner != "acme" || ev.OwnerType != "Business" {
		t.Errorf("access_revoked: %+v", ev)
	}
	// Detail fields of other types are kept as compact JSON, never rejected.
	ev = mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p","action":"copilot.enterprise_enablement_changed","old_value":false,"new_value":{ "a" : 1 },"seat_assignment":12,"reason":"esc\"aped"}`)
	if ev.OldValue != "false" || ev.NewValue != `{"a":1}` || ev.SeatAssignment != "12" || ev.Reason != `esc"aped` {
		t.Errorf("lenient details: %q %q %q %q", ev.OldValue, ev.NewValue, ev.SeatAssignment, ev.Reason)
	}
	// Brief-style names.
	for a, want := range map[string]Transition{
		"copilot.seat_assignment_created":   TransitionAssigned,
		"copilot.seat_assignment_cancelled": TransitionUnassigned,
		"copilot.seat_assignment_updated":   TransitionUpdated,
		"business.add_seats":                TransitionAssigned,
		"business.remove_seats":             TransitionUnassigned,
	} {
		ev := mustParse(t, `{"@timestamp":1709251500000,"_document_id":"p","action":"`+a+`","business":"acme","business_id":7}`)
		if ev.Transition != want || ev.Business != "acme" || ev.BusinessID != 7 {
			t.Errorf("%s: %+v", a, ev)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	// Integral floats are accepted (some shippers re-encode numbers).
	ev := mustParse(t, `{"@timestamp":1.692655003441e12,"created_at":1692655003441.0,"_document_id":"f","action":"copilot.cfb_seat_added","actor_id":3.4525324E7,"user_id":-0,"org_id":null,"repo_id":12,"token_id":9007199254740993}`)
	if ev.Timestamp.UnixMilli() != 1692655003441 || ev.CreatedAt.UnixMilli() != 1692655003441 || ev.ActorID != 34525324 || ev.OrgID != 0 || ev.TokenID != 9007199254740993 {
		t.Errorf("numbers: %+v", ev)
	}
	// Nulls for optional fields.
	ev = mustParse(t, `{"@timestamp":1692655003441,"_document_id":"n","action":"copilot.x","created_at":null,"actor":null,"actor_id":null,"actor_is_bot":null,"actor_location":null,"user":null,"owner":null}`)
	if !ev.CreatedAt.IsZero() || ev.Actor != "" || ev.ActorID != 0 {
		t.Errorf("nulls: %+v", ev)
	}
	// Timestamp bounds.
	mustParse(t, `{"@timestamp":946684800000,"_document_id":"n","action":"copilot.x"}`)
	mustParse(t, `{"@timestamp":4102444799999,"_document_id":"n","action":"copilot.x"}`)
}

func TestParseInvalid(t *testing.T) {
	const ok = `"_document_id":"d","action":"copilot.cfb_seat_added"`
	tests := []struct {
		name, rec string
		reason    Reason
		field     string
		msg       string // exact Error() when set
	}{
		{name: "truncated", rec: `{` + ok + `,"@timestamp":17092`, reason: ReasonMalformedJSON},
		{name: "garbage", rec: `copilot. hello`, reason: ReasonMalformedJSON},
		{name: "empty", rec: " \n\t", reason: ReasonMalformedJSON, msg: "malformed_json: empty record"},
		{name: "trailing data", rec: `{` + ok + `,"@timestamp":1709251200000} {}`, reason: ReasonMalformedJSON},
		{name: "array", rec: `["copilot.cfb_seat_added"]`, reason: ReasonNotObject, msg: "not_an_object: got array"},
		{name: "string", rec: `"copilot.x"`, reason: ReasonNotObject},
		{name: "number", rec: `12`, reason: ReasonNotObject},
		{name: "null", rec: `null`, reason: ReasonNotObject},
		{name: "actor_id string", rec: `{` + ok + `,"@timestamp":1709251200000,"actor_id":"abc"}`, reason: ReasonWrongType, field: "actor_id",
			msg: `wrong_type: field "actor_id": expected integer, got string`},
		{name: "user_id fraction", rec: `{` + ok + `,"@timestamp":1709251200000,"user_id":1.5}`, reason: ReasonWrongType, field: "user_id",
			msg: `wrong_type: field "user_id": expected integer, got number with a fraction 1.5`},
		{name: "org_id huge", rec: `{` + ok + `,"@timestamp":1709251200000,"org_id":123456789012345678901234}`, reason: ReasonWrongType, field: "org_id"},
		{name: "business_id bool", rec: `{` + ok + `,"@timestamp":1709251200000,"business_id":true}`, reason: ReasonWrongType, field: "business_id"},
		{name: "repo_id object", rec: `{` + ok + `,"@timestamp":1709251200000,"repo_id":{}}`, reason: ReasonWrongType, field: "repo_id"},
		{name: "token_id array", rec: `{` + ok + `,"@timestamp":1709251200000,"token_id":[1]}`, reason: ReasonWrongType, field: "token_id"},
		{name: "actor number", rec: `{` + ok + `,"@timestamp":1709251200000,"actor":5}`, reason: ReasonWrongType, field: "actor",
			msg: `wrong_type: field "actor": expected string, got number`},
		{name: "action number", rec: `{"_document_id":"d","action":5,"@timestamp":1709251200000}`, reason: ReasonWrongType, field: "action"},
		{name: "document id number", rec: `{"_document_id":5,"action":"copilot.x","@timestamp":1709251200000}`, reason: ReasonWrongType, field: "_document_id"},
		{name: "bot string", rec: `{` + ok + `,"@timestamp":1709251200000,"actor_is_bot":"yes"}`, reason: ReasonWrongType, field: "actor_is_bot",
			msg: `wrong_type: field "actor_is_bot": expected boolean, got string`},
		{name: "location string", rec: `{` + ok + `,"@timestamp":1709251200000,"actor_location":"US"}`, reason: ReasonWrongType, field: "actor_location",
			msg: `wrong_type: field "actor_location": expected object, got string`},
		{name: "country number", rec: `{` + ok + `,"@timestamp":1709251200000,"actor_location":{"country_code":1}}`, reason: ReasonWrongType, field: "actor_location.country_code"},
		{name: "timestamp string", rec: `{` + ok + `,"@timestamp":"1709251200000"}`, reason: ReasonWrongType, field: "@timestamp",
			msg: `wrong_type: field "@timestamp": expected integer, got string`},
		{name: "empty document id", rec: `{"_document_id":"","action":"copilot.x","@timestamp":1709251200000}`, reason: ReasonMissingField, field: "_document_id",
			msg: `missing_field: "_document_id"`},
		{name: "null document id", rec: `{"_document_id":null,"action":"copilot.x","@timestamp":1709251200000}`, reason: ReasonMissingField, field: "_document_id"},
		{name: "missing action", rec: `{"_document_id":"d","@timestamp":1709251200000,"user":"copilot.x"}`, reason: ReasonMissingField, field: "action"},
		{name: "missing timestamp", rec: `{` + ok + `}`, reason: ReasonMissingField, field: "@timestamp"},
		{name: "null timestamp", rec: `{` + ok + `,"@timestamp":null}`, reason: ReasonMissingField, field: "@timestamp"},
		{name: "timestamp seconds", rec: `{` + ok + `,"@timestamp":12}`, reason: ReasonInvalidTimestamp, field: "@timestamp",
			msg: `invalid_timestamp: field "@timestamp": 12 is not a Unix time in milliseconds between 2000 and 2100`},
		{name: "timestamp 2100", rec: `{` + ok + `,"@timestamp":4102444800000}`, reason: ReasonInvalidTimestamp, field: "@timestamp"},
		{name: "timestamp negative", rec: `{` + ok + `,"@timestamp":-1709251200000}`, reason: ReasonInvalidTimestamp, field: "@timestamp"},
		{name: "timestamp fraction", rec: `{` + ok + `,"@timestamp":1709251200000.5}`, reason: ReasonWrongType, field: "@timestamp"},
		{name: "created_at bad", rec: `{` + ok + `,"@timestamp":1709251200000,"created_at":1709251200}`, reason: ReasonInvalidTimestamp, field: "created_at"},
		{name: "created_at string", rec: `{` + ok + `,"@timestamp":1709251200000,"created_at":"2024-03-01T00:00:00Z"}`, reason: ReasonWrongType, field: "created_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.rec))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if ie.Reason != tc.reason || ie.Field != tc.field {
				t.Errorf("got %s/%q (%v), want %s/%q", ie.Reason, ie.Field, err, tc.reason, tc.field)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("Error() = %q\n          want %q", err.Error(), tc.msg)
			}
			if r, ok := ReasonOf(fmt.Errorf("wrapped: %w", err)); !ok || r != tc.reason {
				t.Errorf("ReasonOf = %v %v", r, ok)
			}
		})
	}
}

func TestUnknownFieldsAccepted(t *testing.T) {
	rec := `{"@timestamp":1709251200000,"_document_id":"u","action":"copilot.cfb_seat_added","actor_is_agent":true,"owner":"acme","owner_type":"Organization","new_field_2030":[{"x":"y"}],"request_access_security_header":null,"permission":"admin","actor_location":{"country_code":"IN","city":"Pune","lat":18.5}}`
	ev := mustParse(t, rec)
	if !ev.ActorIsAgent || ev.ActorCountry != "IN" || string(ev.Raw) != rec {
		t.Errorf("%+v", ev)
	}
}

func BenchmarkParse(b *testing.B) {
	rec := []byte(seatEvent600)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseExactFieldNames: a key that differs from GitHub's lowercase key
// only in case is not the field (design guarantee 5): it is ignored, stays
// in Raw, and never overrides, fills or breaks the real field, at top level
// or nested.
func TestParseExactFieldNames(t *testing.T) {
	const head = `"@timestamp":1709251200000,"_document_id":"d"`
	tests := []struct {
		name, rec string
		check     func(Event) bool
	}{
		{"User after user", `{` + head + `,"action":"copilot.cfb_seat_added","user":"alice","User":"mallory"}`,
			func(ev Event) bool { return ev.User == "alice" }},
		{"USER before user", `{` + head + `,"action":"copilot.cfb_seat_added","USER":"mallory","user":"alice"}`,
			func(ev Event) bool { return ev.User == "alice" }},
		{"User alone", `{` + head + `,"action":"copilot.cfb_seat_added","User":"mallory"}`,
			func(ev Event) bool { return ev.User == "" }},
		{"Action after action", `{` + head + `,"action":"copilot.cfb_seat_added","Action":"copilot.cfb_seat_cancelled"}`,
			func(ev Event) bool {
				return ev.Action == "copilot.cfb_seat_added" && ev.Transition == TransitionAssigned
			}},
		{"ACTION non-Copilot", `{` + head + `,"ACTION":"git.clone","action":"copilot.cfb_seat_added"}`,
			func(ev Event) bool { return ev.Transition == TransitionAssigned }},
		{"User_ID wrong type ignored", `{` + head + `,"action":"copilot.x","user_id":7,"User_ID":"abc","Actor":5}`,
			func(ev Event) bool { return ev.UserID == 7 && ev.Actor == "" }},
		{"Org_Id and ORG", `{` + head + `,"action":"copilot.x","org":"acme","ORG":"evil","Org_Id":9}`,
			func(ev Event) bool { return ev.Org == "acme" && ev.OrgID == 0 }},
		{"_Document_Id", `{"@timestamp":1709251200000,"_document_id":"real","_Document_ID":"fake","action":"copilot.x"}`,
			func(ev Event) bool { return ev.DocumentID == "real" }},
		{"_Document_Id alone", `{"@timestamp":1709251200000,"_Document_Id":"d","action":"copilot.x"}`,
			func(ev Event) bool { return ev.DocumentIDDerived && ev.DocumentID != "d" }},
		{"@Timestamp", `{"@Timestamp":946684800000,"@timestamp":1709251200000,"_document_id":"d","action":"copilot.x"}`,
			func(ev Event) bool { return ev.Timestamp.UnixMilli() == 1709251200000 }},
		{"nested Country_Code after", `{` + head + `,"action":"copilot.x","actor_location":{"country_code":"US","Country_Code":"XX"}}`,
			func(ev Event) bool { return ev.ActorCountry == "US" }},
		{"nested COUNTRY_CODE before", `{` + head + `,"action":"copilot.x","actor_location":{"COUNTRY_CODE":"XX","country_code":"US"}}`,
			func(ev Event) bool { return ev.ActorCountry == "US" }},
		{"nested Country_Code alone", `{` + head + `,"action":"copilot.x","actor_location":{"Country_Code":"XX"}}`,
			func(ev Event) bool { return ev.ActorCountry == "" }},
		{"Actor_Location", `{` + head + `,"action":"copilot.x","Actor_Location":{"country_code":"XX"}}`,
			func(ev Event) bool { return ev.ActorCountry == "" }},
		{"escaped upper case", `{` + head + `,"action":"copilot.x","user":"alice","\u0055ser":"mallory"}`,
			func(ev Event) bool { return ev.User == "alice" }},
		{"Unicode fold", `{` + head + `,"action":"copilot.x","user":"alice","u\u017fer":"mallory","\u212aey":"k"}`,
			func(ev Event) bool { return ev.User == "alice" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustParse(t, tc.rec)
			if !tc.check(ev) {
				t.Errorf("%+v", ev)
			}
			if string(ev.Raw) != tc.rec {
				t.Errorf("Raw = %s, want the record", ev.Raw)
			}
		})
	}
	// Only the exact key counts as present.
	for _, rec := range []string{
		`{"@timestamp":1709251200000,"_document_id":"d","Action":"copilot.cfb_seat_added"}`,
		`{"@Timestamp":1709251200000,"_document_id":"d","action":"copilot.cfb_seat_added"}`,
	} {
		if r, _ := ReasonOf(parseErr(rec)); r != ReasonMissingField {
			t.Errorf("%s: %v, want missing_field", rec, parseErr(rec))
		}
	}
}

func parseErr(rec string) error {
	_, err := Parse([]byte(rec))
	return err
}

// TestParseAmbiguousField: a top-level identity key that appears more than
// once, plainly or spelled with escapes, makes the record ambiguous_field
// whatever the copies hold; case variants, nested keys and other repeated
// keys do not.
func TestParseAmbiguousField(t *testing.T) {
	base := map[string]string{
		"_document_id": `"d1"`, "@timestamp": `1709251200000`, "created_at": `1709251200000`,
		"action": `"copilot.cfb_seat_added"`, "user": `"alice"`, "user_id": `1`, "org": `"acme"`, "org_id": `2`,
		"actor": `"admin"`, "actor_id": `3`, "business": `"biz"`, "business_id": `4`,
	}
	other := map[string]string{
		"_document_id": `"d2"`, "@timestamp": `1709251200001`, "created_at": `1709251200001`,
		"action": `"copilot.cfb_seat_cancelled"`, "user": `"mallory"`, "user_id": `9`, "org": `"evil"`, "org_id": `9`,
		"actor": `"mallory"`, "actor_id": `9`, "business": `"evil"`, "business_id": `9`,
	}
	record := func(extra string) string {
		var b strings.Builder
		b.WriteString("{")
		for _, k := range identityKeyNames[1:] {
			fmt.Fprintf(&b, "%q:%s,", k, base[k])
		}
		b.WriteString(`"operation_type":"create"` + extra + "}")
		return b.String()
	}
	mustParse(t, record("")) // the base record is fine
	escape := func(k string, all bool) string {
		var b strings.Builder
		for i, c := range k {
			if all && i%2 == 1 {
				fmt.Fprintf(&b, `\u%04X`, c) // upper-case hex digits
			} else if all || i == 0 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteRune(c)
			}
		}
		return b.String()
	}
	for _, k := range identityKeyNames[1:] {
		for name, extra := range map[string]string{
			"plain":         fmt.Sprintf(`,%q:%s`, k, other[k]),
			"same value":    fmt.Sprintf(`,%q:%s`, k, base[k]),
			"escaped first": fmt.Sprintf(`,"%s":%s`, escape(k, false), other[k]),
			"escaped all":   fmt.Sprintf(`,"%s":%s`, escape(k, true), other[k]),
			"null":          fmt.Sprintf(`,%q:null`, k),
			"wrong type":    fmt.Sprintf(`,%q:{"x":[1]}`, k),
			"three times":   fmt.Sprintf(`,%q:%s , %q : %s`, k, other[k], k, base[k]),
		} {
			t.Run(k+"/"+name, func(t *testing.T) {
				rec := record(extra)
				_, err := Parse([]byte(rec))
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Reason != ReasonAmbiguousField || ie.Field != k {
					t.Fatalf("err = %v, want ambiguous_field %q\n%s", err, k, rec)
				}
				n := 2
				if name == "three times" {
					n = 3
				}
				if want := fmt.Sprintf("ambiguous_field: field %q: appears %d times", k, n); err.Error() != want {
					t.Errorf("Error() = %q, want %q", err, want)
				}
			})
		}
	}

	// The decoder's own behaviour for everything that is not ambiguous:
	// the last copy of a repeated scalar wins, a repeated object is merged
	// into the first, null over an object keeps it.
	for _, tc := range []struct {
		name, extra string
		check       func(Event) bool
	}{
		{"case variants", `,"User":"mallory","ACTION":"git.clone","Org_ID":9,"_Document_Id":"x"`,
			func(ev Event) bool { return ev.User == "alice" && ev.OrgID == 2 && ev.DocumentID == "d1" }},
		{"escaped case variant", `,"\u0055ser":"mallory"`,
			func(ev Event) bool { return ev.User == "alice" }},
		{"near misses", `,"user ":"x","users":"x","user\u0000":"x","_document_id_":"x","org.id":"x"`,
			func(ev Event) bool { return ev.User == "alice" }},
		{"nested identity keys", `,"data":{"user":"x","user":"y","action":"git.clone"},"list":[{"org":1},{"org":2}]`,
			func(ev Event) bool { return ev.User == "alice" && ev.Org == "acme" }},
		{"repeated operation_type", `,"operation_type":"remove"`,
			func(ev Event) bool { return ev.OperationType == "remove" }},
		{"repeated detail", `,"seat_assignment":"a","seat_assignment":{"b":1}`,
			func(ev Event) bool { return ev.SeatAssignment == `{"b":1}` }},
		{"repeated nested key", `,"actor_location":{"country_code":"US","country_code":"XX"}`,
			func(ev Event) bool { return ev.ActorCountry == "XX" }},
		{"repeated object merges", `,"actor_location":{"country_code":"US"},"actor_location":{"city":"Pune"}`,
			func(ev Event) bool { return ev.ActorCountry == "US" }},
		{"null keeps object", `,"actor_location":{"country_code":"US"},"actor_location":null`,
			func(ev Event) bool { return ev.ActorCountry == "US" }},
		{"repeated bool", `,"actor_is_bot":true,"actor_is_bot":false`,
			func(ev Event) bool { return !ev.ActorIsBot }},
		{"key strings with quotes and braces", `,"x\"user\\":"}{\"user\":1,","y":["\\",{"a":"]"}]`,
			func(ev Event) bool { return ev.User == "alice" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustParse(t, record(tc.extra))
			if !tc.check(ev) {
				t.Errorf("%+v", ev)
			}
		})
	}
	// A repeated integer field outside the identity set: the last copy is
	// validated.
	if r, _ := ReasonOf(parseErr(record(`,"repo_id":1,"repo_id":"x"`))); r != ReasonWrongType {
		t.Errorf("repeated repo_id, last a string: %v", parseErr(record(`,"repo_id":1,"repo_id":"x"`)))
	}
}

// TestParseDuplicatedAction: a repeated action with any Copilot copy is
// ambiguous, never filtered; only non-Copilot copies stay filtered.
func TestParseDuplicatedAction(t *testing.T) {
	const head = `{"@timestamp":1709251200000,"_document_id":"d",`
	for rec, want := range map[string]Reason{
		head + `"action":"copilot.cfb_seat_added","action":"git.clone"}`:                    ReasonAmbiguousField,
		head + `"action":"git.clone","action":"copilot.cfb_seat_added"}`:                    ReasonAmbiguousField,
		head + `"action":"git.clone","\u0061ction":"copilot.cfb_seat_cancelled"}`:           ReasonAmbiguousField,
		head + `"action":"git.clone","action":"\u0063opilot.x"}`:                            ReasonAmbiguousField,
		head + `"action":"git.clone","action":"business.add_seats","action":"repo.create"}`: ReasonAmbiguousField,
		head + `"action":"copilot.x","action":"copilot.x"}`:                                 ReasonAmbiguousField,
		head + `"action":"git.clone","actor":5,"action":"copilot.x"}`:                       ReasonAmbiguousField,
		head + `"action":5,"action":"git.clone"}`:                                           ReasonAmbiguousField,
		head + `"action":"git.clone","action":"repo.create"}`:                               "",
		head + `"action":"git.clone","action":"repo.create","repo":"copilot.vim"}`:          "",
		head + `"action":"git.clone","action":null,"repo":"copilot.vim"}`:                   "",
	} {
		_, err := Parse([]byte(rec))
		if want == "" {
			if !errors.Is(err, ErrNotSeatEvent) {
				t.Errorf("%s: %v, want ErrNotSeatEvent", rec, err)
			}
			continue
		}
		if r, _ := ReasonOf(err); r != want {
			t.Errorf("%s: %v, want %s", rec, err, want)
		}
	}
}

// TestParseErrorDocumentID: a dead letter names its event whenever the
// record's _document_id can be read.
func TestParseErrorDocumentID(t *testing.T) {
	const id = `"_document_id":"Zq3mWv0x9bT1kR7yLp2s4A"`
	const want = "Zq3mWv0x9bT1kR7yLp2s4A"
	tests := []struct {
		name, rec string
		reason    Reason
		docID     string
	}{
		{"wrong type after id", `{` + id + `,"action":"copilot.x","@timestamp":1709251200000,"actor":5}`, ReasonWrongType, want},
		{"wrong type before id", `{"actor":5,"action":"copilot.x","@timestamp":1709251200000,` + id + `}`, ReasonWrongType, want},
		{"wrong type nested before id", `{"actor_location":{"country_code":1},` + id + `,"action":"copilot.x","@timestamp":1709251200000}`, ReasonWrongType, want},
		{"wrong-type timestamp", `{` + id + `,"action":"copilot.x","@timestamp":"yesterday"}`, ReasonWrongType, want},
		{"wrong-type integer", `{` + id + `,"action":"copilot.x","@timestamp":1709251200000,"user_id":"7"}`, ReasonWrongType, want},
		{"invalid timestamp", `{"action":"copilot.x","@timestamp":1709251200,` + id + `}`, ReasonInvalidTimestamp, want},
		{"invalid created_at", `{` + id + `,"action":"copilot.x","@timestamp":1709251200000,"created_at":-1}`, ReasonInvalidTimestamp, want},
		{"missing action", `{` + id + `,"@timestamp":1709251200000}`, ReasonMissingField, want},
		{"null action", `{` + id + `,"action":null,"@timestamp":1709251200000}`, ReasonMissingField, want},
		{"action number", `{"action":5,` + id + `,"@timestamp":1709251200000}`, ReasonWrongType, want},
		{"missing timestamp", `{` + id + `,"action":"copilot.x"}`, ReasonMissingField, want},
		{"ambiguous user", `{` + id + `,"action":"copilot.x","@timestamp":1709251200000,"user":"a","user":"b"}`, ReasonAmbiguousField, want},
		{"ambiguous action, filter path", `{` + id + `,"action":"copilot.x","@timestamp":1709251200000,"action":"git.clone"}`, ReasonAmbiguousField, want},
		{"escaped id", `{"_document_id":"a\"b\u00e9","action":"copilot.x","@timestamp":"x"}`, ReasonWrongType, "a\"b\u00e9"},
		{"escaped key", `{"actor":5,"\u005fdocument_id":"k","action":"copilot.x"}`, ReasonWrongType, "k"},
		// No single readable id.
		{"ambiguous id", `{` + id + `,"_document_id":"other","action":"copilot.x","@timestamp":1709251200000}`, ReasonAmbiguousField, ""},
		{"id number", `{"_document_id":5,"action":"copilot.x","@timestamp":1709251200000}`, ReasonWrongType, ""},
		{"id object", `{"actor":5,"_document_id":{"a":"b"},"action":"copilot.x"}`, ReasonWrongType, ""},
		{"id nested only", `{"x":{"_document_id":"n"},"action":"copilot.x","actor":5}`, ReasonWrongType, ""},
		{"case-variant id", `{"_Document_ID":"v","action":"copilot.x","actor":5}`, ReasonWrongType, ""},
		// Malformed JSON: best effort, up to the syntax error.
		{"truncated after id", `{` + id + `,"action":"copilot.cfb_seat_added","actor":"octo-ad`, ReasonMalformedJSON, want},
		{"garbage after id", `{` + id + `,"action":"copilot.x",@}`, ReasonMalformedJSON, want},
		{"trailing data", `{` + id + `,"action":"copilot.x","@timestamp":1709251200000} {}`, ReasonMalformedJSON, want},
		{"escaped id, truncated", `{"_document_id":"a\u0062c","action":"cop`, ReasonMalformedJSON, "abc"},
		{"truncated inside id", `{"_document_id":"Zq3mWv0x9b`, ReasonMalformedJSON, ""},
		{"truncated before id value", `{"action":"copilot.x","_document_id":`, ReasonMalformedJSON, ""},
		{"error before id", `{"action":"copilot.x",,` + id + `}`, ReasonMalformedJSON, ""},
		{"error in nested value before id", `{"a":[1,},` + id + `}`, ReasonMalformedJSON, ""},
		{"bad escape in id", `{"_document_id":"a\x","action":"copilot.x"}`, ReasonMalformedJSON, ""},
		{"repeated id, truncated", `{` + id + `,` + id + `,"action":"cop`, ReasonMalformedJSON, ""},
		{"not an object", `["` + want + `"]`, ReasonNotObject, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse([]byte(tc.rec))
			if r, _ := ReasonOf(err); r != tc.reason {
				t.Fatalf("err = %v, want %s", err, tc.reason)
			}
			if ev.DocumentID != tc.docID {
				t.Errorf("DocumentID = %q, want %q", ev.DocumentID, tc.docID)
			}
			if string(ev.Raw) != tc.rec {
				t.Errorf("Raw = %q, want the record", ev.Raw)
			}
		})
	}
}

// TestParseOddShapes: the real shapes of github-facts.md "Odd real shapes".
func TestParseOddShapes(t *testing.T) {
	const head = `"@timestamp":1709251200000,"_document_id":"d","action":"copilot.user_access_revoked"`
	for _, tc := range []struct {
		name, fields string
		org          string
		orgID        int64
	}{
		{"org []", `"org":[]`, "", 0},
		{"org_id []", `"org_id":[]`, "", 0},
		{"both []", `"org":[],"org_id":[]`, "", 0},
		{"org_id [n]", `"org_id":[163237012]`, "", 163237012},
		{"org [s]", `"org":["acme"],"org_id":[163237012]`, "acme", 163237012},
		{"spaced", `"org" : [ "acme" ] ,"org_id": [ 1.63237012e8 ] `, "acme", 163237012},
		{"escaped", `"org":["a\u0063me"]`, "acme", 0},
		{"null element", `"org":[null],"org_id":[null]`, "", 0},
		{"plain", `"org":"acme","org_id":163237012`, "acme", 163237012},
		{"plain escaped", `"org":"a\"cme"`, `a"cme`, 0},
		{"null", `"org":null,"org_id":null`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustParse(t, `{`+head+`,`+tc.fields+`}`)
			if ev.Org != tc.org || ev.OrgID != tc.orgID {
				t.Errorf("org %q %d, want %q %d", ev.Org, ev.OrgID, tc.org, tc.orgID)
			}
		})
	}
	for _, tc := range []struct{ name, fields, field, msg string }{
		{"org two", `"org":["a","b"]`, "org",
			`wrong_type: field "org": expected string or an array of at most one, got an array of 2 elements`},
		{"org_id three", `"org_id":[1,2,3]`, "org_id",
			`wrong_type: field "org_id": expected integer or an array of at most one, got an array of 3 elements`},
		{"org_id [string]", `"org_id":["163237012"]`, "org_id", `wrong_type: field "org_id": expected integer, got string`},
		{"org_id [[n]]", `"org_id":[[1]]`, "org_id", `wrong_type: field "org_id": expected integer, got array`},
		{"org_id [fraction]", `"org_id":[1.5]`, "org_id", `wrong_type: field "org_id": expected integer, got number with a fraction 1.5`},
		{"org [n]", `"org":[5]`, "org", `wrong_type: field "org": expected string, got number`},
		{"org [{}]", `"org":[{}]`, "org", `wrong_type: field "org": expected string, got object`},
		{"org number", `"org":5`, "org", `wrong_type: field "org": expected string, got number`},
		{"org bool", `"org":true`, "org", `wrong_type: field "org": expected string, got boolean`},
		{"org object", `"org":{"login":"acme"}`, "org", `wrong_type: field "org": expected string, got object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse([]byte(`{` + head + `,` + tc.fields + `}`))
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason != ReasonWrongType || ie.Field != tc.field || err.Error() != tc.msg {
				t.Fatalf("err = %v\n want %s", err, tc.msg)
			}
			if ev.DocumentID != "d" {
				t.Errorf("DocumentID = %q", ev.DocumentID)
			}
		})
	}
	// An array elsewhere is not accepted: only org and org_id have that shape.
	for _, f := range []string{`"user":["u"]`, `"user_id":[1]`, `"actor_id":[]`, `"business":["b"]`} {
		if r, _ := ReasonOf(parseErr(`{` + head + `,` + f + `}`)); r != ReasonWrongType {
			t.Errorf("%s: %v, want wrong_type", f, parseErr(`{`+head+`,`+f+`}`))
		}
	}
	// A non-Copilot event with org [] / ["a","b"] is still just filtered.
	if err := parseErr(`{"org":["a","b"],"action":"git.clone"}`); !errors.Is(err, ErrNotSeatEvent) {
		t.Errorf("filtered event: %v", err)
	}
}

// TestParseOlderExports: before 2021 exports carry created_at only, no
// @timestamp and no _document_id.
func TestParseOlderExports(t *testing.T) {
	const old = `{"action":"copilot.cfb_seat_added","actor":"octo-admin","created_at":1609459200123,"org":"acme","user":"monalisa"}`
	ev := mustParse(t, old)
	if ev.Timestamp.UnixMilli() != 1609459200123 || ev.CreatedAt.UnixMilli() != 1609459200123 || ev.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp %v created %v", ev.Timestamp, ev.CreatedAt)
	}
	sum := sha256.Sum256([]byte(old))
	if want := "derived:" + base64.RawURLEncoding.EncodeToString(sum[:16]); ev.DocumentID != want || !ev.DocumentIDDerived {
		t.Errorf("DocumentID %q derived %v, want %q", ev.DocumentID, ev.DocumentIDDerived, want)
	}
	if len(ev.DocumentID) != len("derived:")+22 {
		t.Errorf("DocumentID %q: want 22 base64url characters", ev.DocumentID)
	}
	// A redelivery of the same bytes (surrounding whitespace aside) is the
	// same event; a different event is not.
	if again := mustParse(t, "\r\n "+old+"\n"); again.DocumentID != ev.DocumentID {
		t.Errorf("redelivery: %q, want %q", again.DocumentID, ev.DocumentID)
	}
	other := strings.Replace(old, "monalisa", "hubot", 1)
	if o := mustParse(t, other); o.DocumentID == ev.DocumentID || !o.DocumentIDDerived {
		t.Errorf("different events share %q", o.DocumentID)
	}
	// A GitHub id is never marked derived.
	if ev := mustParse(t, `{"_document_id":"g","action":"copilot.x","created_at":1609459200123}`); ev.DocumentID != "g" || ev.DocumentIDDerived {
		t.Errorf("%+v", ev)
	}
	// @timestamp wins over created_at; null @timestamp falls back.
	ev = mustParse(t, `{"_document_id":"g","action":"copilot.x","@timestamp":1709251200000,"created_at":1609459200123}`)
	if ev.Timestamp.UnixMilli() != 1709251200000 {
		t.Errorf("timestamp %v", ev.Timestamp)
	}
	ev = mustParse(t, `{"_document_id":"g","action":"copilot.x","@timestamp":null,"created_at":1609459200123}`)
	if ev.Timestamp.UnixMilli() != 1609459200123 {
		t.Errorf("timestamp %v", ev.Timestamp)
	}

	for _, tc := range []struct{ name, rec, field, msg string }{
		{"neither id nor timestamp", `{"action":"copilot.x","user":"u"}`, "@timestamp", `missing_field: "@timestamp"`},
		{"neither, null timestamp", `{"action":"copilot.x","@timestamp":null,"created_at":null}`, "@timestamp", `missing_field: field "@timestamp": null`},
		{"bad created_at", `{"action":"copilot.x","created_at":1609459200}`, "created_at", ""},
		{"string created_at", `{"action":"copilot.x","created_at":"2021-01-01"}`, "created_at", ""},
		{"null id", `{"_document_id":null,"action":"copilot.x","created_at":1609459200123}`, "_document_id", ""},
		{"empty id", `{"_document_id":"","action":"copilot.x","created_at":1609459200123}`, "_document_id", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse([]byte(tc.rec))
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field || (tc.msg != "" && err.Error() != tc.msg) {
				t.Fatalf("err = %v, want field %s %s", err, tc.field, tc.msg)
			}
			if ev.DocumentID != "" || ev.DocumentIDDerived {
				t.Errorf("dead letter carries a derived id %q", ev.DocumentID)
			}
		})
	}
}

// BenchmarkParseNoise: a non-Copilot event that reached Parse (a pre-filter
// false positive, or a caller without the pre-filter) is filtered.
func BenchmarkParseNoise(b *testing.B) {
	rec := []byte(noiseEvent600)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(rec); !errors.Is(err, ErrNotSeatEvent) {
			b.Fatal(err)
		}
	}
}
