package events

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestMaybeSeatEvent(t *testing.T) {
	cases := map[string]bool{
		seatEvent600:                       true,
		noiseEvent600:                      false,
		realOrgAddMember:                   true,
		`{"action":"org.update_member"}`:   false,
		`{"action":"team.add_repository"}`: false,
		`{"action":"enterprise_team.copilot_assignment"}`: true,
		`{"action":"user.suspend"}`:                       true,
		`{"action":"user.login"}`:                         false,
		`{"action":"external_identity.deprovision"}`:      true,
		`{"action":"business.remove_member"}`:             true,
		`{"x":".copilot"}`:                                false,
		`{"email":"a@b.org.add_member"}`:                  true,
		`{"action":"business.add_seats"}`:                 true,
		`{"action":"business.remove_seats"}`:              true,
		`{"action":"business.set_seats","x":"_seats"}`:    false,
		`{"action":"\u0063opilot.x"}`:                     true,
		`{"action":"copilot\u002Ex"}`:                     true,
		`{"ua":"a\u0026b\\u0063"}`:                        false,
		`{"ua":"a\"b\\"}`:                                 false,
		`\u00`:                                            false,
		`_seats`:                                          false,
		``:                                                false,
	}
	for rec, want := range cases {
		if got := MaybeSeatEvent([]byte(rec)); got != want {
			t.Errorf("MaybeSeatEvent(%s) = %v, want %v", rec, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { MaybeSeatEvent([]byte(noiseEvent600)) }); n != 0 {
		t.Errorf("MaybeSeatEvent allocates %v times", n)
	}
}

// TestMaybeSeatEventNeverMisses generates events with random actions, key
// orders, escapes and padding, and checks that every accepted event passes
// the pre-filter.
func TestMaybeSeatEventNeverMisses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	actions := append(append(KnownActions(), MembershipActions()...), "copilot.new_thing", "copilot.", "git.clone", "repo.create", "business.add_seat", "org.update_member")
	accepted := 0
	for i := 0; i < 20000; i++ {
		action := actions[r.IntN(len(actions))]
		rec := genEvent(r, action)
		ev, err := Parse(rec)
		if err == nil {
			accepted++
			if !MaybeSeatEvent(rec) {
				t.Fatalf("pre-filter rejected an accepted event: %s", rec)
			}
			if ev.Action != action {
				t.Fatalf("action %q decoded as %q", action, ev.Action)
			}
		} else if !errors.Is(err, ErrNotSeatEvent) {
			t.Fatalf("generated event rejected: %v: %s", err, rec)
		}
	}
	if accepted < 10000 {
		t.Errorf("only %d accepted", accepted)
	}
}

// genEvent builds one valid event for action with random key order, random
// \u escapes in the action, random number forms and random extra fields.
func genEvent(r *rand.Rand, action string) []byte {
	var act strings.Builder
	for _, c := range []byte(action) {
		if r.IntN(8) == 0 {
			fmt.Fprintf(&act, `\u%04x`, c)
		} else if r.IntN(8) == 0 {
			fmt.Fprintf(&act, `\u%04X`, c)
		} else {
			act.WriteByte(c)
		}
	}
	ts := int64(minTimestampMs) + r.Int64N(maxTimestampMs-minTimestampMs)
	fields := []string{
		`"_document_id":"` + strconv.FormatUint(r.Uint64(), 36) + `"`,
		`"action":"` + act.String() + `"`,
		`"@timestamp":` + strconv.FormatInt(ts, 10),
	}
	if r.IntN(2) == 0 {
		fields = append(fields, `"created_at":`+strconv.FormatFloat(float64(ts), 'e', -1, 64))
	}
	opt := []string{
		`"actor":"a` + strconv.Itoa(r.IntN(1000)) + `"`,
		`"actor_id":` + strconv.Itoa(r.IntN(1e9)),
		`"user_id":null`,
		`"org":"acme-platform"`,
		`"actor_is_bot":true`,
		`"actor_location":{"country_code":"FR"}`,
		`"user_agent":"Mozilla/5.0 \"quoted\" \\ back"`,
		`"unknown_` + strconv.Itoa(r.IntN(100)) + `":{"deep":[1,2,{"copilot":"x"}]}`,
		`"repo":"acme/business_seats"`,
	}
	for _, o := range opt {
		if r.IntN(2) == 0 {
			fields = append(fields, o)
		}
	}
	r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	return []byte("{" + strings.Join(fields, ",") + "}")
}

func BenchmarkMaybeSeatEvent(b *testing.B) {
	rec := []byte(noiseEvent600)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if MaybeSeatEvent(rec) {
			b.Fatal("noise passed")
		}
	}
}

func BenchmarkMaybeSeatEventSeat(b *testing.B) {
	rec := []byte(seatEvent600)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if !MaybeSeatEvent(rec) {
			b.Fatal("seat rejected")
		}
	}
}
