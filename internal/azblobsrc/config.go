// Package azblobsrc reads GitHub's audit-log stream from an Azure Blob
// Storage container (GitHub's streaming target): the Azure client, its
// listing and the credential choice; the object engine (internal/objsrc)
// does the rest.
package azblobsrc

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/ingest"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

func init() {
	source.Register(source.Kind{Name: "azblob", Help: "GitHub's audit-log streaming container in Azure Blob Storage",
		New: func(common *source.Common) source.Config {
			c := Defaults()
			c.Stream = objsrc.NewStream("azblob", common)
			return &c
		}})
}

// Config of the Azure Blob source. Defaults() has the values the flags show.
type Config struct {
	// Where: ContainerURL, or AccountURL and Container, or
	// ConnectionString and Container.
	ContainerURL string // https://ACCOUNT.blob.core.windows.net/CONTAINER[?SAS]: the SAS is a secret
	AccountURL   string // https://ACCOUNT.blob.core.windows.net
	Container    string
	// Prefix under which GitHub writes YYYY/MM/DD/HH/mm/<uuid>.json.log.gz
	// (a directory: "audit" and "audit/" are the same).
	Prefix string

	// Credentials, exactly one kind: a SAS (in a URL's query or SASToken),
	// a connection string, else azidentity.DefaultAzureCredential.
	SASToken         string // secret
	ConnectionString string // secret

	objsrc.Stream // --azblob-mode, --azblob-poll-interval, --azblob-lookback, --azblob-concurrency; --shard, --since, --until

	// Credential overrides DefaultAzureCredential (tests, embedding); it is
	// used only when no SAS and no connection string is given.
	Credential azcore.TokenCredential
	// ClientOptions, if set, are the Azure SDK client's (transport, retries).
	ClientOptions *azcore.ClientOptions
}

// Defaults are the Azure Blob source's defaults.
func Defaults() Config { return Config{Stream: objsrc.NewStream("azblob", nil)} }

// RegisterFlags binds the Azure Blob flags to fs, with Defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ContainerURL, "azblob-container-url", "", "container URL, https://ACCOUNT.blob.core.windows.net/CONTAINER, optionally with a SAS query (secret: prefer $SEATLINE_AZBLOB_CONTAINER_URL); or give --azblob-account-url and --azblob-container")
	fs.StringVar(&c.AccountURL, "azblob-account-url", "", "storage account URL, https://ACCOUNT.blob.core.windows.net (with --azblob-container)")
	fs.StringVar(&c.Container, "azblob-container", "", "container GitHub streams the audit log to (with --azblob-account-url or --azblob-connection-string)")
	fs.StringVar(&c.Prefix, "azblob-prefix", "", "blob name prefix above GitHub's YYYY/MM/DD/HH/mm/<uuid>.json.log.gz names")
	fs.StringVar(&c.SASToken, "azblob-sas-token", "", "shared access signature (sp=rl: read, list) for the container (secret: use $SEATLINE_AZBLOB_SAS_TOKEN)")
	fs.StringVar(&c.ConnectionString, "azblob-connection-string", "", "storage account connection string (secret: use $SEATLINE_AZBLOB_CONNECTION_STRING); default without it or a SAS: DefaultAzureCredential (managed identity, workload identity, AZURE_* environment)")
	c.Stream.RegisterFlags(fs)
}

// containerName: 3 to 63 lowercase letters, digits and single hyphens,
// starting and ending with a letter or digit (Azure's rule).
var containerName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// place is where the container is, once the flags are read.
type place struct {
	serviceURL string // https://ACCOUNT.blob.core.windows.net/ or http://host:port/ACCOUNT/ (no query)
	account    string
	container  string
	sas        string // a SAS query (without "?"), "" if none
}

// credKind is which credential the source uses.
type credKind string

const (
	credSAS              credKind = "sas"
	credConnectionString credKind = "connection-string"
	credDefault          credKind = "default-azure-credential"
)

// CheckValues names the first value given that is malformed or out of
// range, whatever --source says; it requires nothing.
func (c *Config) CheckValues() error {
	if c.ContainerURL != "" {
		if _, err := parseServiceURL("azblob-container-url", c.ContainerURL, true); err != nil {
			return err
		}
	}
	if c.AccountURL != "" {
		if _, err := parseServiceURL("azblob-account-url", c.AccountURL, false); err != nil {
			return err
		}
	}
	if c.Container != "" && !containerName.MatchString(c.Container) && c.Container != "$root" {
		return fmt.Errorf("azblob-container: %q is not a container name (3 to 63 lowercase letters, digits and single hyphens)", c.Container)
	}
	if c.SASToken != "" {
		if _, err := parseSAS("azblob-sas-token", c.SASToken); err != nil {
			return err
		}
	}
	if c.ConnectionString != "" {
		if _, err := parseConnectionString(c.ConnectionString); err != nil {
			return err
		}
	}
	return c.Stream.CheckValues()
}

// Validate names the first invalid field; it changes nothing.
func (c *Config) Validate() error {
	if err := c.CheckValues(); err != nil {
		return err
	}
	if _, _, err := c.resolve(); err != nil {
		return err
	}
	return c.Stream.Validate()
}

// resolve decides where the container is and which credential reads it:
// exactly one place and one kind of credential, or an error naming the
// flags in conflict. The values must have passed CheckValues.
func (c *Config) resolve() (place, credKind, error) {
	var p place
	switch {
	case c.ContainerURL != "" && (c.AccountURL != "" || c.Container != ""):
		return p, "", fmt.Errorf("azblob-container-url: give either it or --azblob-account-url with --azblob-container, not both")
	case c.ContainerURL != "" && c.ConnectionString != "":
		return p, "", fmt.Errorf("azblob-connection-string: it names the account itself: give --azblob-container with it, not --azblob-container-url")
	case c.ContainerURL != "":
		p, _ = parseServiceURL("azblob-container-url", c.ContainerURL, true)
	case c.AccountURL != "" && c.ConnectionString != "":
		return p, "", fmt.Errorf("azblob-connection-string: it names the account itself: give --azblob-container with it, not --azblob-account-url")
	case c.AccountURL != "" || c.ConnectionString != "":
		if c.Container == "" {
			flag := "azblob-account-url"
			if c.ConnectionString != "" {
				flag = "azblob-connection-string"
			}
			return p, "", fmt.Errorf("azblob-container: required with --%s", flag)
		}
		if c.AccountURL != "" {
			p, _ = parseServiceURL("azblob-account-url", c.AccountURL, false)
		} else {
			cs, _ := parseConnectionString(c.ConnectionString)
			p = place{serviceURL: cs.serviceURL, account: cs.account}
		}
		p.container = c.Container
	default:
		return p, "", fmt.Errorf("azblob-container-url: required with --source azblob (or --azblob-account-url and --azblob-container, or --azblob-connection-string and --azblob-container)")
	}
	switch {
	case c.SASToken != "" && p.sas != "":
		return p, "", fmt.Errorf("azblob-sas-token: the URL already carries a SAS: give one of them")
	case c.SASToken != "" && c.ConnectionString != "":
		return p, "", fmt.Errorf("azblob-sas-token: give either a SAS or --azblob-connection-string, not both")
	case c.SASToken != "":
		p.sas, _ = parseSAS("azblob-sas-token", c.SASToken)
		return p, credSAS, nil
	case p.sas != "":
		return p, credSAS, nil
	case c.ConnectionString != "":
		return p, credConnectionString, nil
	}
	return p, credDefault, nil
}

// parseServiceURL reads an account URL (withContainer false) or a
// container URL: https://ACCOUNT.blob.core.windows.net[/CONTAINER], or an
// emulator's or private endpoint's path-style http(s)://host:port/ACCOUNT[/CONTAINER].
// Its query, if any, must be a SAS. Errors never show the query's values.
func parseServiceURL(name, v string, withContainer bool) (place, error) {
	var p place
	u, err := flagval.HTTPURL(name, v)
	if err != nil {
		return p, err
	}
	if u.RawQuery != "" {
		if p.sas, err = parseSAS(name, u.RawQuery); err != nil {
			return p, err
		}
	}
	if u.Fragment != "" {
		return p, fmt.Errorf("%s: %q: a #fragment has no place in it", name, flagval.Redact(v))
	}
	var segs []string
	if path := strings.Trim(u.Path, "/"); path != "" {
		segs = strings.Split(path, "/")
	}
	want := 0
	if withContainer {
		want = 1
	}
	// Azure's hosts (ACCOUNT.blob.core.windows.net, ACCOUNT.privatelink.blob…)
	// name the account; any other host (an emulator) is path style: the
	// account is the first segment.
	host := u.Hostname()
	pathStyle := !strings.Contains(host, ".blob.")
	switch {
	case pathStyle && len(segs) == want+1:
		p.account, segs = segs[0], segs[1:]
	case !pathStyle && len(segs) == want:
		p.account = host[:strings.IndexByte(host, '.')]
	case withContainer:
		return p, fmt.Errorf("%s: %q is not https://ACCOUNT.blob.core.windows.net/CONTAINER (or http(s)://host:port/ACCOUNT/CONTAINER for an emulator)", name, flagval.Redact(v))
	default:
		return p, fmt.Errorf("%s: %q is not https://ACCOUNT.blob.core.windows.net (or http(s)://host:port/ACCOUNT for an emulator)", name, flagval.Redact(v))
	}
	if !accountName.MatchString(p.account) {
		return p, fmt.Errorf("%s: %q is not a storage account name (3 to 24 lowercase letters and digits)", name, p.account)
	}
	base := *u
	base.RawQuery, base.Fragment, base.Path, base.RawPath = "", "", "/", ""
	if pathStyle {
		base.Path = "/" + p.account + "/"
	}
	p.serviceURL = base.String()
	if withContainer {
		p.container = segs[0]
		if !containerName.MatchString(p.container) && p.container != "$root" {
			return p, fmt.Errorf("%s: %q is not a container name (3 to 63 lowercase letters, digits and single hyphens)", name, p.container)
		}
	}
	return p, nil
}

var accountName = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

// parseSAS checks a shared access signature (with or without its leading
// "?") and returns it without the "?". Its values are never shown.
func parseSAS(name, v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "?")
	q, err := url.ParseQuery(v)
	if err != nil || q.Get("sig") == "" || q.Get("sv") == "" {
		return "", fmt.Errorf("%s: not a shared access signature (the query sv=…&sp=…&se=…&sig=… the portal or az storage container generate-sas gives)", name)
	}
	return v, nil
}

// connString is what seatline takes from a connection string.
type connString struct {
	serviceURL string
	account    string
}

// parseConnectionString reads the account and its blob endpoint from a
// connection string (the SDK reads the key). Errors never show it.
func parseConnectionString(v string) (connString, error) {
	const name = "azblob-connection-string"
	kv := map[string]string{}
	for part := range strings.SplitSeq(strings.TrimRight(strings.TrimSpace(v), ";"), ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return connString{}, fmt.Errorf("%s: not a connection string (Key=Value;… pairs, as the portal's Access keys page shows)", name)
		}
		kv[strings.TrimSpace(k)] = val
	}
	if kv["AccountKey"] == "" && kv["SharedAccessSignature"] == "" {
		return connString{}, fmt.Errorf("%s: has neither AccountKey nor SharedAccessSignature", name)
	}
	var cs connString
	if ep := kv["BlobEndpoint"]; ep != "" {
		p, err := parseServiceURL(name+": BlobEndpoint", ep, false)
		if err != nil {
			return connString{}, err
		}
		cs = connString{serviceURL: p.serviceURL, account: p.account}
		if a := kv["AccountName"]; a != "" {
			cs.account = a
		}
	} else {
		a := kv["AccountName"]
		if a == "" {
			return connString{}, fmt.Errorf("%s: has neither AccountName nor BlobEndpoint", name)
		}
		proto, suffix := kv["DefaultEndpointsProtocol"], kv["EndpointSuffix"]
		if proto == "" {
			proto = "https"
		}
		if suffix == "" {
			suffix = "core.windows.net"
		}
		cs = connString{serviceURL: proto + "://" + a + ".blob." + suffix + "/", account: a}
	}
	if !accountName.MatchString(cs.account) {
		return connString{}, fmt.Errorf("%s: AccountName %q is not a storage account name (3 to 24 lowercase letters and digits)", name, cs.account)
	}
	return cs, nil
}

// prefixDir is Prefix as a directory: "" or ending in "/".
func (c *Config) prefixDir() string { return objsrc.Dir(c.Prefix) }

// SourceName is how the source's checkpoints are keyed:
// "azblob:account/container/prefix/". The config must be valid.
func (c *Config) SourceName() string {
	p, _, _ := c.resolve()
	return "azblob:" + p.account + "/" + p.container + "/" + c.prefixDir()
}

// Describe implements source.Config: never a secret (a URL's SAS values
// are redacted; tokens and connection strings are not shown).
func (c *Config) Describe() []any {
	p, cred, _ := c.resolve()
	return append([]any{"account", p.account, "container", p.container, "prefix", c.Prefix, "endpoint", p.serviceURL, "credential", string(cred)},
		c.Stream.Describe()...)
}

// Open implements source.Config: it validates c and builds the source.
func (c *Config) Open(ctx context.Context, deps source.Deps) (ingest.Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	client, cred, err := c.newClient()
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	p, _, _ := c.resolve()
	opts, days := c.Stream.Read("azblob", c.SourceName(), c.prefixDir())
	be := &backend{client: client, where: p, cred: cred, prefix: c.prefixDir(), days: days, log: log}
	return objsrc.New(opts, be, deps)
}
