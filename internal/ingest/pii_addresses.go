package ingest

import "net/netip"

// addresses returns a copy of b in which every IPv4 and IPv6 address
// literal is replaced (hash: by its salted hash, so it still matches the
// actor_ip column; drop: by nothing), or nil when b holds none. raw: b is
// text as written, not decoded: a backslash escape is skipped as a unit,
// and a run of address characters cut off by the end of b counts as an
// address when it could be the start of one.
func (s *scrubber) addresses(b []byte, raw bool) []byte {
	e := edit{doc: b}
	hit := func(start, end int) {
		lit := b[start:end]
		out := e.upTo(start)
		if s.mode == PIIHash {
			out = s.appendHash(out, lit)
		}
		e.out, e.copied = out, end
	}
	for i := 0; i < len(b); {
		if raw && b[i] == '\\' {
			i += 2
			continue
		}
		if !isAddrByte(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isAddrByte(b[j]) {
			j++
		}
		cut := raw && j == len(b)
		if a, z, ok := ipv6In(b[i:j], cut); ok {
			hit(i+a, i+z)
			i = j
			continue
		}
		for k := i; k < j; { // IPv4 in each run of digits and dots
			if !isDigitDot(b[k]) {
				k++
				continue
			}
			m := k
			for m < j && isDigitDot(b[m]) {
				m++
			}
			if a, z, ok := ipv4In(b[k:m], cut && m == j); ok {
				hit(k+a, k+z)
			}
			k = m
		}
		i = j
	}
	if !e.changed {
		return nil
	}
	return e.result()
}

func isAddrByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

func isDigitDot(c byte) bool { return c >= '0' && c <= '9' || c == '.' }

// ipv4In reports an IPv4 address in run (digits and dots): four
// consecutive dot-separated parts of 1–3 digits, each at most 255
// (leading zeros allowed, as some logs write them). The whole run, without
// outer dots, is the address, so "10.0.0.1.5" goes whole. cut: the run
// ends the input, so a beginning of an address ("203.0.11") counts too.
func ipv4In(run []byte, cut bool) (start, end int, ok bool) {
	start, end = 0, len(run)
	for start < end && run[start] == '.' {
		start++
	}
	for end > start && run[end-1] == '.' {
		end--
	}
	parts, good := 0, 0 // parts read; consecutive octets ending at the last
	for p := start; p < end; {
		q := p
		for q < end && run[q] != '.' {
			q++
		}
		if octet(run[p:q]) {
			good++
		} else {
			good = 0
		}
		parts++
		if good >= 4 {
			return start, end, true
		}
		p = q + 1
	}
	if cut && parts > 1 && good == parts {
		return start, len(run), true
	}
	return 0, 0, false
}

func octet(p []byte) bool {
	if len(p) == 0 || len(p) > 3 {
		return false
	}
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n <= 255
}

// ipv6In reports an IPv6 address in run (hex digits, colons, dots): the
// run, without trailing dots, if it parses as one; cut, any run of at
// least two colons and groups of at most four hex digits (an address cut
// off by the end of the input).
func ipv6In(run []byte, cut bool) (start, end int, ok bool) {
	end = len(run)
	for end > 0 && run[end-1] == '.' {
		end--
	}
	colons := 0
	for _, c := range run[:end] {
		if c == ':' {
			colons++
		}
	}
	if colons < 2 {
		return 0, 0, false
	}
	if a, err := netip.ParseAddr(string(run[:end])); err == nil && a.Is6() {
		return 0, end, true
	}
	if !cut {
		return 0, 0, false
	}
	group := 0
	for _, c := range run {
		switch {
		case c == ':':
			group = 0
		case c == '.' || group == 4:
			return 0, 0, false
		default:
			group++
		}
	}
	return 0, len(run), true
}
