// Package filesrc reads local files: an audit-log export downloaded from
// GitHub (a JSON array, possibly re-saved as UTF-16 on Windows), a
// directory of streamed objects copied from a bucket, NDJSON files,
// compressed or not. The object engine (internal/objsrc) does the rest.
package filesrc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

// SourceName keys the file source's checkpoints (keys are absolute paths).
const SourceName = "file:local"

func init() {
	source.Register(source.Kind{Name: "file", Help: "local files and directories",
		New: func(common *source.Common) source.Config { c := Defaults(); c.common = common; return &c }})
}

// Config of the file source. Defaults() has the values the flags show.
type Config struct {
	// Paths: files (any name; the content says how to read it) or
	// directories, read recursively for *.json, *.jsonl, *.ndjson,
	// *.json.log, each optionally .gz, .zst or .bz2.
	Paths       []string
	Concurrency int // files read at once
	// Special lets named paths be devices or pipes (a FIFO, /dev/stdin):
	// they are read once, without checkpoints that mean anything.
	Special bool

	common *source.Common // --shard
}

// Defaults are the file source's defaults.
func Defaults() Config { return Config{Concurrency: 2, common: &source.Common{}} }

// concurrencyFlag bounds --files-concurrency.
var concurrencyFlag = flagval.Int{Name: "files-concurrency", Min: 1, Max: 64}

// RegisterFlags binds the file flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	fs.Var((*cli.List)(&c.Paths), "files", "files or directories (recursive) to read, comma-separated: --files a.json,b.json.gz,exports/ "+
		"(NDJSON or JSON-array exports; gzip, zstd or bzip2 by content); regular files only unless --files-special")
	fs.IntVar(&c.Concurrency, concurrencyFlag.Name, d.Concurrency, concurrencyFlag.Usage("files read at once"))
	fs.BoolVar(&c.Special, "files-special", false, "also read named paths that are not regular files (a FIFO, /dev/stdin, a device): read once, until their end or SIGTERM")
}

// CheckValues names the first value given that is out of range, whatever
// --source says; it requires nothing and reads no file.
func (c *Config) CheckValues() error {
	if err := concurrencyFlag.Check(c.Concurrency); err != nil {
		return err
	}
	_, err := objsrc.ParseShard(c.common.Shard)
	return err
}

// Validate names the first invalid field; it changes nothing. Every path
// must exist and be readable; one that is neither a regular file nor a
// directory (a FIFO, a device) is refused without --files-special: it
// might never end.
func (c *Config) Validate() error {
	if len(c.Paths) == 0 {
		return fmt.Errorf("files: required with --source file (files or directories, comma-separated)")
	}
	if err := c.CheckValues(); err != nil {
		return err
	}
	if c.common.Since != "" || c.common.Until != "" {
		return fmt.Errorf("since, until: only for --source s3 (files are read whole)")
	}
	for _, p := range c.Paths {
		if err := c.checkPath(p); err != nil {
			return err
		}
	}
	return nil
}

// checkPath: p exists and can be read. A regular file or a directory is
// opened to prove it (a FIFO is not: opening one waits for a writer).
func (c *Config) checkPath(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		if !c.Special {
			return fmt.Errorf("files: %s is %s, not a regular file or a directory: it might never end; --files-special reads it anyway", p, flagval.FileKind(fi.Mode()))
		}
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return f.Close()
}

// Describe implements source.Config.
func (c *Config) Describe() []any {
	shard := c.common.Shard
	if shard == "" {
		shard = "0/1"
	}
	return []any{"files", c.Paths, "shard", shard}
}

// Open implements source.Config: every file named, and every audit file
// under every directory named, recursively. It ends
// (ingest.ErrEndOfInput) once all are read. Checkpoints are keyed by
// absolute path with size and modification time as the ETag, so a rerun
// skips what is done and reads a changed file again.
func (c *Config) Open(ctx context.Context, deps source.Deps) (ingest.Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range c.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("files: %s: %w", p, err)
		}
		paths = append(paths, abs)
	}
	shard, _ := objsrc.ParseShard(c.common.Shard)
	opts := objsrc.Options{Kind: "file", Checkpoint: SourceName, Concurrency: c.Concurrency, ReadAttempts: 5, Shard: shard}
	return objsrc.New(opts, &fileBackend{paths: paths}, deps)
}

type fileBackend struct{ paths []string }

// isFileName: what a directory walk picks up.
func isFileName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	return objsrc.IsAuditKey(name)
}

func (b *fileBackend) Pages(ctx context.Context, startAfter string, fn func([]objsrc.Object) error) error {
	seen := map[string]bool{}
	var objs []objsrc.Object
	add := func(path string, fi fs.FileInfo) {
		if seen[path] || path <= startAfter {
			return
		}
		seen[path] = true
		objs = append(objs, objsrc.Object{Key: path, ETag: fileETag(fi), Size: fileSize(fi)})
	}
	for _, p := range b.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return &objsrc.FatalError{Err: fmt.Errorf("files: %w", err)}
		}
		if !fi.IsDir() {
			add(p, fi)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !isFileName(d.Name()) {
				return nil
			}
			fi, err := os.Stat(path) // follows a symlink
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			add(path, fi)
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &objsrc.FatalError{Err: fmt.Errorf("files: %w", err)}
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	for len(objs) > 0 {
		n := min(len(objs), 1000)
		if err := fn(objs[:n]); err != nil {
			return err
		}
		objs = objs[n:]
	}
	return nil
}

func (b *fileBackend) Open(ctx context.Context, o objsrc.Object) (io.ReadCloser, objsrc.Object, error) {
	f, err := openFile(ctx, o.Key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, o, objsrc.ErrVanished
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, o, &objsrc.FatalError{Err: fmt.Errorf("files: %w", err)}
		}
		return nil, o, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, o, err
	}
	return newStoppable(ctx, f), objsrc.Object{Key: o.Key, ETag: fileETag(fi), Size: fileSize(fi)}, nil
}

// openFile opens path for reading. Opening a FIFO waits for a writer, so
// there the wait ends with ctx too: a stop signal must not wait for a
// writer that may never come.
func openFile(ctx context.Context, path string) (*os.File, error) {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return os.Open(path)
	}
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		done <- opened{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-ctx.Done():
	}
	// Wake the waiting open by being the writer for a moment (a
	// non-blocking open for writing succeeds only while a reader waits),
	// and close whatever it opens whenever it does.
	if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	go func() {
		if r := <-done; r.f != nil {
			r.f.Close()
		}
	}()
	return nil, ctx.Err()
}

// stoppable is an open file whose reads end when ctx does: each Read
// checks ctx first (a device such as /dev/zero never ends and never
// blocks), and ctx's end closes the file, which wakes a Read blocked on an
// empty pipe. Without it a stop waits for the reader.
type stoppable struct {
	ctx   context.Context
	f     *os.File
	stop  func() bool
	close sync.Once
	err   error
}

func newStoppable(ctx context.Context, f *os.File) *stoppable {
	s := &stoppable{ctx: ctx, f: f}
	s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s
}

func (s *stoppable) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.f.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && s.ctx.Err() != nil {
		return n, s.ctx.Err() // closed by the stop, not a failed read
	}
	return n, err
}

func (s *stoppable) Close() error {
	s.close.Do(func() {
		s.stop()
		s.err = s.f.Close()
	})
	return s.err
}

func (b *fileBackend) Lookback(maxKey string, _ time.Duration) string { return maxKey }

// fileETag identifies a file's content: its size and modification time.
func fileETag(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
}

// fileSize: a device or a pipe has no size to check a read against.
func fileSize(fi fs.FileInfo) int64 {
	if !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}
