package gcssrc_test

import (
	"bufio"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/ingestd"
	"github.com/seatline/seatline/internal/testenv"
)

// TestDeployExamples: every SEATLINE_ variable the GCS examples name
// (commented out or not) is an ingest flag's, and the env example's
// uncommented settings make a valid configuration.
func TestDeployExamples(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var cfg ingestd.Config
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ingestd.RegisterFlags(fs, &cfg)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[cli.EnvName(f.Name)] = true })
	envVar := regexp.MustCompile(`SEATLINE_[A-Z0-9_]+`)
	for _, name := range []string{"deploy/gcs.env.example", "deploy/kubernetes/ingest-gcs.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range envVar.FindAllString(string(b), -1) {
			if !known[v] {
				t.Errorf("%s: %s is no ingest flag's variable", name, v)
			}
		}
	}

	f, err := os.Open(filepath.Join(root, "deploy/gcs.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			t.Setenv(k, v)
		}
	}
	if err := cli.Parse(fs, nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("deploy/gcs.env.example: %v", err)
	}
	if cfg.Sources.Source != "gcs" {
		t.Errorf("source %q", cfg.Sources.Source)
	}
}
