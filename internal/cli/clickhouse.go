package cli

import (
	"flag"

	"github.com/seatline/seatline/internal/timeline"
)

// ClickHouseFlags binds the ClickHouse connection flags that every binary
// shares, so they are named the same everywhere. databaseUsage says what
// the binary does with the database (the workers create it, seatctl does not).
func ClickHouseFlags(fs *flag.FlagSet, c *timeline.Config, databaseUsage string) {
	c.RegisterFlags(fs, databaseUsage)
}
