package events

import (
	"testing"
	"time"
)

func TestContentHash(t *testing.T) {
	base := Event{DocumentID: "d1", Timestamp: time.UnixMilli(1700000000123), Action: "copilot.cfb_seat_added",
		User: "alice", UserID: 7, Org: "acme", Actor: "admin", ActorIP: "203.0.113.17", UserAgent: "curl/8", Raw: []byte(`{}`)}
	same := base
	same.DocumentID, same.ActorIP, same.UserAgent, same.Raw = "other", "", "hashed", []byte(`{"x":1}`)
	same.CreatedAt = base.Timestamp
	if base.ContentHash() != same.ContentHash() {
		t.Error("id, PII fields, created_at or raw bytes changed the content hash")
	}
	for name, change := range map[string]func(*Event){
		"user":       func(e *Event) { e.User = "mallory" },
		"org":        func(e *Event) { e.Org = "evil" },
		"time":       func(e *Event) { e.Timestamp = e.Timestamp.Add(time.Millisecond) },
		"action":     func(e *Event) { e.Action = "copilot.cfb_seat_cancelled" },
		"user id":    func(e *Event) { e.UserID = 8 },
		"team":       func(e *Event) { e.Team = "acme/t" },
		"bot":        func(e *Event) { e.ActorIsBot = true },
		"request id": func(e *Event) { e.RequestID = "r" },
		// a value moving from one field to the next is another content
		"shifted": func(e *Event) { e.User, e.Org = "aliceacme", "" },
	} {
		e := base
		change(&e)
		if e.ContentHash() == base.ContentHash() {
			t.Errorf("%s changed but the content hash did not", name)
		}
	}
}
