package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// findGoTool finds a test server installed with go install (versitygw,
// fake-gcs-server): $envVar if set, else name on PATH, else
// $(go env GOPATH)/bin/name, where scripts/deps.sh installs it. notFound
// (wrapped) says how to install it.
func findGoTool(envVar, name string, notFound error) (string, error) {
	if env := os.Getenv(envVar); env != "" {
		path, err := exec.LookPath(env)
		if err != nil {
			return "", fmt.Errorf("testenv: $%s=%q: %v: %w", envVar, env, err, notFound)
		}
		return path, nil
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	gopath := ""
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(strings.Split(string(out), string(os.PathListSeparator))[0])
	}
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" && isExecutable(filepath.Join(gopath, "bin", name)) {
		return filepath.Join(gopath, "bin", name), nil
	}
	return "", fmt.Errorf("testenv: %w", notFound)
}
