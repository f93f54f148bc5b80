package reclaim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// DefaultPrices are GitHub's list prices of Copilot seats, USD a month:
// Business 19, Enterprise 39.
const DefaultPrices = "business=19,enterprise=39"

// ParsePrices reads "plan=USD,…" (USD with at most two decimals) into cents
// per plan type. Business must be priced: a seat whose plan is unknown is
// priced as Business, never overstating the saving.
func ParsePrices(s string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		plan, usd, ok := strings.Cut(part, "=")
		plan = strings.ToLower(strings.TrimSpace(plan))
		if !ok || plan == "" {
			return nil, fmt.Errorf("%q is not plan=USD (e.g. %s)", part, DefaultPrices)
		}
		cents, err := parseCents(strings.TrimSpace(usd))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", plan, err)
		}
		if _, dup := out[plan]; dup {
			return nil, fmt.Errorf("%s priced twice", plan)
		}
		out[plan] = cents
	}
	if _, ok := out["business"]; !ok {
		return nil, fmt.Errorf("business must be priced (seats of an unknown plan are priced as Business): e.g. %s", DefaultPrices)
	}
	return out, nil
}

func parseCents(usd string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(strings.TrimPrefix(usd, "$"), ".")
	if whole == "" || len(frac) > 2 || (hasFrac && frac == "") {
		return 0, fmt.Errorf("%q is not an amount in USD such as 19 or 19.50", usd)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > 1_000_000 {
		return 0, fmt.Errorf("%q is not an amount in USD such as 19 or 19.50", usd)
	}
	f := int64(0)
	if frac != "" {
		for len(frac) < 2 {
			frac += "0"
		}
		if f, err = strconv.ParseInt(frac, 10, 64); err != nil || f < 0 {
			return 0, fmt.Errorf("%q is not an amount in USD such as 19 or 19.50", usd)
		}
	}
	return w*100 + f, nil
}

// PriceCents is the monthly list price of a seat of planType: its own
// price, else Business's.
func PriceCents(prices map[string]int64, planType string) int64 {
	if p, ok := prices[strings.ToLower(planType)]; ok {
		return p
	}
	return prices["business"]
}

// USD formats cents as "$1,234.50".
func USD(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	s := fmt.Sprintf("$%s.%02d", b.String(), cents%100)
	if neg {
		s = "-" + s
	}
	return s
}

// FormatPrices is the inverse of ParsePrices (plans in order).
func FormatPrices(prices map[string]int64) string {
	var plans []string
	for p := range prices {
		plans = append(plans, p)
	}
	sort.Strings(plans)
	var parts []string
	for _, p := range plans {
		c := prices[p]
		if c%100 == 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", p, c/100))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%d.%02d", p, c/100, c%100))
		}
	}
	return strings.Join(parts, ",")
}
