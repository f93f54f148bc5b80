package ghflags

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The library names Config's fields; the user reads the flags' names, and
// an error naming other settings names their flags too.
func TestConfigErrorsNameFlags(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(key, []byte("-----BEGIN NOPE-----\nc2VjcmV0a2V5bWF0ZXJpYWw=\n-----END NOPE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    Flags
		want string
	}{
		{"nothing", Defaults(0), "github-token: a token or a GitHub App (github-app-id, github-installation-id, github-private-key) is required"},
		{"both", Flags{BaseURL: "https://api.github.com/", Token: "tok1234", AppID: 1, InstallationID: 2, MaxConcurrent: 1}, "github-token: set either a token or a GitHub App (github-app-id, github-installation-id, github-private-key), not both"},
		{"no key", Flags{BaseURL: "https://api.github.com/", AppID: 1, InstallationID: 2, MaxConcurrent: 1}, "github-private-key: required with github-app-id"},
		{"bad key", Flags{BaseURL: "https://api.github.com/", AppID: 1, InstallationID: 2, PrivateKeyFile: key, MaxConcurrent: 1}, "github-private-key: not an RSA private key in PEM form"},
		{"token ws", Flags{BaseURL: "https://api.github.com/", Token: "tok 1234", MaxConcurrent: 1}, "github-token: contains whitespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.f.Config()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "tok 1234") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
	other := errors.New("not a configuration error")
	if FlagError(other) != other {
		t.Fatal("FlagError changed an error that is not ghclient's ConfigError")
	}
}
