package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// AzuriteVersion is the Azurite release scripts/deps.sh installs.
const AzuriteVersion = "3.37.0"

// Azurite's documented development account (its well-known key: public,
// accepted only by the emulator).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// ErrNoAzurite is returned (wrapped) by StartAzurite when no Azurite can be
// found.
var ErrNoAzurite = errors.New("Azurite (the Azure Blob server of the test bed) not found; install it: " +
	"npm install --prefix ~/.cache/seatline/azurite/" + AzuriteVersion + " azurite@" + AzuriteVersion +
	" (about 90 s, 360 MB; node must be on PATH), or run scripts/deps.sh (make test does); " +
	"or point $AZURITE at its azurite-blob")

// Azurite is a private Azurite blob service (data in a temporary
// directory) on a free 127.0.0.1 port, with the development account.
// Its URLs are path-style: http://127.0.0.1:PORT/devstoreaccount1/CONTAINER.
type Azurite struct {
	AccountURL string // http://127.0.0.1:PORT/devstoreaccount1

	*daemon
	cred   *azblob.SharedKeyCredential
	client *azblob.Client
}

// AzuriteOptions configures StartAzurite: Dir holds the blobs (data/)
// and azurite.log.
type AzuriteOptions = DaemonOptions

// StartAzurite starts Azurite's blob service on a free loopback port and
// waits until it answers (at most 60 s, less if ctx ends sooner). The
// program is $AZURITE if set, else azurite-blob from the cache
// scripts/deps.sh installs to (${XDG_CACHE_HOME:-~/.cache}/seatline/azurite/VERSION).
func StartAzurite(ctx context.Context, opt AzuriteOptions) (*Azurite, error) {
	bin, err := findAzurite()
	if err != nil {
		return nil, err
	}
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	a := &Azurite{cred: cred}
	// --skipApiVersionCheck: the SDK speaks a newer service version than
	// the emulator knows; --loose: ignore headers it does not implement.
	// Any answer to an unauthenticated listing (a refusal) means it serves.
	if a.daemon, err = startDaemon(ctx, daemonSpec{name: "azurite", bin: bin, tmp: "testenv-azurite-", options: opt,
		args: func(data string, port int) []string {
			return []string{"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
				"--location", data, "--skipApiVersionCheck", "--loose", "--disableTelemetry"}
		},
		ready: "/" + AzuriteAccount + "?comp=list", any: true, wait: 60 * time.Second, inUse: "EADDRINUSE"}); err != nil {
		return nil, err
	}
	a.AccountURL = "http://" + a.addr + "/" + AzuriteAccount
	if a.client, err = azblob.NewClientWithSharedKeyCredential(a.AccountURL+"/", cred, a.clientOptions()); err != nil {
		a.Close()
		return nil, fmt.Errorf("testenv: %w", err)
	}
	return a, nil
}

// AzuriteDir is where scripts/deps.sh installs Azurite.
func AzuriteDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	return filepath.Join(cache, "seatline", "azurite", AzuriteVersion)
}

func findAzurite() (string, error) {
	if env := os.Getenv("AZURITE"); env != "" {
		path, err := exec.LookPath(env)
		if err != nil {
			return "", fmt.Errorf("testenv: $AZURITE=%q: %v: %w", env, err, ErrNoAzurite)
		}
		return path, nil
	}
	bin := filepath.Join(AzuriteDir(), "node_modules", ".bin", "azurite-blob")
	if !isExecutable(bin) {
		return "", fmt.Errorf("testenv: no %s: %w", bin, ErrNoAzurite)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("testenv: Azurite needs node on PATH (apt-get install nodejs): %w", err)
	}
	return bin, nil
}

// clientOptions: no proxy (loopback only), few quick retries.
func (a *Azurite) clientOptions() *azblob.ClientOptions {
	return &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}},
		Retry:     policy.RetryOptions{MaxRetries: 2, RetryDelay: 50 * time.Millisecond},
	}}
}

// Client is a shared-key client for the development account.
func (a *Azurite) Client() *azblob.Client { return a.client }

// ConnectionString is the development account's connection string for
// this server (it holds the account key).
func (a *Azurite) ConnectionString() string {
	return a.ConnectionStringWithKey(AzuriteKey)
}

// ConnectionStringWithKey is ConnectionString with another account key
// (to see a wrong key refused).
func (a *Azurite) ConnectionStringWithKey(key string) string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AzuriteAccount + ";AccountKey=" + key + ";BlobEndpoint=" + a.AccountURL + ";"
}

// ContainerSAS is a container URL carrying a service SAS with perms, valid
// from an hour ago until expiry.
func (a *Azurite) ContainerSAS(container string, perms sas.ContainerPermissions, expiry time.Time) (string, error) {
	q, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, StartTime: time.Now().Add(-time.Hour).UTC(), ExpiryTime: expiry.UTC(),
		Permissions: perms.String(), ContainerName: container,
	}.SignWithSharedKey(a.cred)
	if err != nil {
		return "", fmt.Errorf("testenv: signing a SAS: %w", err)
	}
	return a.AccountURL + "/" + container + "?" + q.Encode(), nil
}

// CreateContainer creates container.
func (a *Azurite) CreateContainer(ctx context.Context, container string) error {
	if _, err := a.client.CreateContainer(ctx, container, nil); err != nil {
		return fmt.Errorf("testenv: creating container %s: %w", container, err)
	}
	return nil
}

// Put stores body as container/key and returns its ETag (without quotes).
func (a *Azurite) Put(ctx context.Context, container, key string, body []byte) (string, error) {
	out, err := a.client.UploadBuffer(ctx, container, key, body, nil)
	if err != nil {
		return "", fmt.Errorf("testenv: putting %s/%s: %w", container, key, err)
	}
	if out.ETag == nil {
		return "", fmt.Errorf("testenv: putting %s/%s: no ETag in the answer", container, key)
	}
	return strings.Trim(string(*out.ETag), `"`), nil
}

// Close stops the server (SIGTERM, SIGKILL after 10 s) and removes its
// directory if StartAzurite created it. Calling it more than once is safe.
func (a *Azurite) Close() error { return a.stop() }

// NewAzurite starts an Azurite server (see StartAzurite) that is closed
// when the test ends. A missing Azurite fails the test with how to install it.
func NewAzurite(tb testing.TB) *Azurite {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := StartAzurite(ctx, AzuriteOptions{Logf: tb.Logf})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

// AzureContainer is a container on an Azurite server: a testenv.Bucket
// read by --source azblob with the account's connection string.
type AzureContainer struct {
	*Azurite
	Name string
}

// NewAzureContainer starts an Azurite server for the test (NewAzurite)
// with one container.
func NewAzureContainer(tb testing.TB, name string) *AzureContainer {
	tb.Helper()
	c := &AzureContainer{Azurite: NewAzurite(tb), Name: name}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CreateContainer(ctx, name); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *AzureContainer) Kind() string { return "azblob" }

func (c *AzureContainer) Put(ctx context.Context, key string, body []byte) (string, error) {
	return c.Azurite.Put(ctx, c.Name, key, body)
}

func (c *AzureContainer) Delete(ctx context.Context, key string) error {
	if _, err := c.client.DeleteBlob(ctx, c.Name, key, nil); err != nil {
		return fmt.Errorf("testenv: deleting %s/%s: %w", c.Name, key, err)
	}
	return nil
}

func (c *AzureContainer) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := c.client.DownloadStream(ctx, c.Name, key, nil)
	if err != nil {
		return nil, fmt.Errorf("testenv: reading %s/%s: %w", c.Name, key, err)
	}
	return out.Body, nil
}

// IngestArgs: the container and the development account's connection
// string. It is a flag, not in Env, because in-process runs parse flags
// only (ingestd.ParseArgs reads no SEATLINE_* variable); its key is
// Azurite's public, documented one, valid only on this loopback server.
func (c *AzureContainer) IngestArgs() []string {
	return []string{"--source", "azblob", "--azblob-container", c.Name, "--azblob-connection-string", c.ConnectionString()}
}

// Env blanks the Azure identity variables, so nothing reaches for a real
// credential (the connection string is in IngestArgs).
func (c *AzureContainer) Env() []string {
	return []string{"AZURE_CLIENT_ID=", "AZURE_TENANT_ID=", "AZURE_CLIENT_SECRET=", "AZURE_FEDERATED_TOKEN_FILE="}
}

func (c *AzureContainer) Checkpoint(prefix string) string {
	return "azblob:" + AzuriteAccount + "/" + c.Name + "/" + prefix
}

// compile-time check: an AzureContainer is a Bucket.
var _ Bucket = (*AzureContainer)(nil)
