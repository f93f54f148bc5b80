package events

// ContentHash identifies what an event says, apart from its _document_id:
// two copies of one GitHub event hash alike, a copy that says anything
// else does not. GitHub's ids are unique, so two contents under one id
// are corruption or forgery (the ingest pipeline's identity check).
//
// Left out: the PII fields (--pii may hash or drop them, so two stores of
// one event differ there, and a hash over them would let anyone who knows
// the rest of the event test guesses of an IP), CreatedAt (older exports
// carry only created_at; Timestamp is the event's time either way), and
// what is derived from Action.
func (e *Event) ContentHash() uint64 {
	// FNV-1a, 64 bits, each string after its length (so fields cannot
	// shift into each other); inline, not hash/fnv, which would copy every
	// string to a []byte.
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	num := func(n int64) {
		for i := 0; i < 64; i += 8 {
			h = (h ^ uint64(byte(n>>i))) * prime
		}
	}
	str := func(s string) {
		num(int64(len(s)))
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	}
	num(e.Timestamp.UnixMilli())
	str(e.Action)
	str(e.Actor)
	num(e.ActorID)
	num(b2i(e.ActorIsBot) | b2i(e.ActorIsAgent)<<1)
	for _, s := range [...]string{e.User, e.Org, e.Business, e.Owner, e.OwnerType, e.OperationType, e.ActorCountry,
		e.HashedToken, e.ProgrammaticAccessType, e.RequestID, e.ExternalIdentityNameID, e.SeatAssignment,
		e.OldValue, e.NewValue, e.OldPlan, e.NewPlan, e.Plan, e.Reason, e.Team, e.EnterpriseTeam, e.OldLogin} {
		str(s)
	}
	for _, n := range [...]int64{e.UserID, e.OrgID, e.BusinessID, e.TokenID} {
		num(n)
	}
	return h
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
