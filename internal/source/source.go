// Package source builds the ingest worker's source from a registry. Each
// source package registers a Kind (its flags, validation and Open); the
// worker registers every kind's flags, then validates and opens the one
// --source names: there is no switch over source names anywhere.
//
// A source only moves bytes and positions: it hands each unit it reads (a
// Kafka message, an object) to internal/records, which frames, decodes,
// checks and pre-filters it the same way for every source.
package source

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/internal/timeline"
)

// Deps is what the worker gives a source to open with.
type Deps struct {
	Log *slog.Logger
	// Records configures the records stage every unit goes through
	// (limits, pre-filter, counting).
	Records records.Config
	// Checkpoints keeps object sources' positions (*timeline.Store).
	Checkpoints Checkpoints
	// Progress, when set, is a terminal for a progress bar; otherwise
	// progress is logged.
	Progress io.Writer
}

// Checkpoints is where object sources keep their positions.
type Checkpoints interface {
	WriteCheckpoints(ctx context.Context, cps []timeline.Checkpoint) error
	Checkpoints(ctx context.Context, source, fromKey, toKey string) (map[string]timeline.Checkpoint, error)
}

// Config is one kind of source's configuration.
type Config interface {
	// RegisterFlags binds the kind's flags, with their defaults.
	RegisterFlags(fs *flag.FlagSet)
	// Validate names the first invalid field of the kind --source names:
	// what it requires, the files it reads (they must exist and be
	// readable) and every value given. It changes nothing and connects to
	// nothing.
	Validate() error
	// CheckValues names the first value given to the kind's flags that is
	// malformed or out of range, when another kind is selected: a mistake
	// there is one whatever --source says. It requires nothing and reads
	// no file.
	CheckValues() error
	// Open builds the source (it may connect lazily).
	Open(ctx context.Context, deps Deps) (ingest.Source, error)
	// Describe is what start-up logs about the source: never a secret.
	Describe() []any
}

// Common holds the flags several kinds of source read. Each kind says, in
// its Validate, what it makes of them.
type Common struct {
	Shard string // i/n: this worker's share of an object store's keys
	Since string // first day to read, YYYY-MM-DD
	Until string // last day, inclusive
}

func (c *Common) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Shard, "shard", "", "i/n: this worker reads only keys whose hash mod n is i; run n workers 0/n … n-1/n (object sources)")
	fs.StringVar(&c.Since, "since", "", "first day to read, YYYY-MM-DD UTC (s3: backfill lists only these days' prefixes; follow starts there)")
	fs.StringVar(&c.Until, "until", "", "last day to read, YYYY-MM-DD UTC, inclusive (s3 backfill; default today)")
}

// Kind is a registered kind of source.
type Kind struct {
	Name string // the --source value
	Help string // one line for --help
	New  func(common *Common) Config
}

var (
	mu    sync.Mutex
	kinds = map[string]Kind{}
)

// Register adds a kind; source packages call it from init.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic("source: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// Names lists the registered kinds, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Set is every kind's configuration, bound to one flag set.
type Set struct {
	Source  string // --source
	Common  Common
	configs map[string]Config
}

// RegisterFlags binds --source, the common flags and every registered
// kind's flags to fs. def is --source's default.
func RegisterFlags(fs *flag.FlagSet, def string) *Set {
	s := &Set{configs: map[string]Config{}}
	names := Names()
	var help []string
	for _, n := range names {
		mu.Lock()
		k := kinds[n]
		mu.Unlock()
		help = append(help, n+" ("+k.Help+")")
		s.configs[n] = k.New(&s.Common)
	}
	fs.StringVar(&s.Source, "source", def, "where events come from: "+strings.Join(help, ", "))
	s.Common.registerFlags(fs)
	for _, n := range names {
		s.configs[n].RegisterFlags(fs)
	}
	return s
}

// Selected is the validated configuration of the kind --source names;
// the values given to every other kind's flags are checked too.
func (s *Set) Selected() (Config, error) {
	c, ok := s.configs[s.Source]
	if !ok {
		return nil, fmt.Errorf("source: must be one of %s, got %q", strings.Join(Names(), ", "), s.Source)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	for _, n := range Names() {
		if n == s.Source {
			continue
		}
		if err := s.configs[n].CheckValues(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Config returns the configuration of a kind (tests and embedding set
// fields on it before Selected).
func (s *Set) Config(name string) Config { return s.configs[name] }

// Lagger is a source that can say how far behind it is (Kafka).
type Lagger interface {
	Lag(ctx context.Context) (int64, error)
}
