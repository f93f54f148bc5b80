package s3src

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OpenFiles validates cfg and builds the local-file source: every file
// named, and every *.json, *.jsonl, *.ndjson, *.json.log (optionally .gz) under
// every directory named, recursively. It ends (ingest.ErrEndOfInput) once
// all are read. Checkpoints are keyed by absolute path with size and
// modification time as the ETag, so a rerun skips what is done and reads a
// changed file again.
func OpenFiles(cfg FileConfig, cps Checkpoints, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range cfg.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("files: %s: %w", p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		paths = append(paths, abs)
	}
	ec := engineConfig{
		kind: "file", source: FileSourceName,
		concurrency: cfg.Concurrency, readAttempts: 5, shard: cfg.shard, maxLineBytes: cfg.MaxLineBytes,
		progress: cfg.Progress, progressInterval: cfg.ProgressInterval, filtered: cfg.Filtered,
	}
	return newSource(ec, &fileBackend{paths: paths}, cps, log), nil
}

type fileBackend struct{ paths []string }

// isFileName: what a directory walk picks up.
func isFileName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	return isObjectKey(name)
}

func (b *fileBackend) pages(ctx context.Context, startAfter string, fn func([]object) error) error {
	seen := map[string]bool{}
	var objs []object
	add := func(path string, fi fs.FileInfo) {
		if seen[path] || path <= startAfter {
			return
		}
		seen[path] = true
		objs = append(objs, object{Key: path, ETag: fileETag(fi), Size: fi.Size()})
	}
	for _, p := range b.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return &fatalError{fmt.Errorf("files: %w", err)}
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
			return &fatalError{fmt.Errorf("files: %w", err)}
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

func (b *fileBackend) open(_ context.Context, o object) (io.ReadCloser, object, error) {
	f, err := os.Open(o.Key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, o, errVanished
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, o, &fatalError{fmt.Errorf("files: %w", err)}
		}
		return nil, o, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, o, err
	}
	return f, object{Key: o.Key, ETag: fileETag(fi), Size: fi.Size()}, nil
}

func (b *fileBackend) lookback(maxKey string, _ time.Duration) string { return maxKey }

// fileETag identifies a file's content: its size and modification time.
func fileETag(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
}
