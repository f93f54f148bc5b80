package testenv

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindAzurite: a missing Azurite fails with how to install it, whether
// $AZURITE names nothing or the cache holds no install.
func TestFindAzurite(t *testing.T) {
	t.Setenv("AZURITE", filepath.Join(t.TempDir(), "no-such-azurite-blob"))
	if _, err := StartAzurite(context.Background(), AzuriteOptions{}); !errors.Is(err, ErrNoAzurite) || !strings.Contains(err.Error(), "scripts/deps.sh") {
		t.Errorf("$AZURITE missing: %v, want ErrNoAzurite with the install hint", err)
	}
	t.Setenv("AZURITE", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if _, err := StartAzurite(context.Background(), AzuriteOptions{}); !errors.Is(err, ErrNoAzurite) || !strings.Contains(err.Error(), "npm install") {
		t.Errorf("empty cache: %v, want ErrNoAzurite with the install hint", err)
	}
}
