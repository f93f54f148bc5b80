package timeline

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// ServerVersion is what the server said in the native-protocol handshake,
// read once when the Store opens (every connection of the pool talks to
// the same servers). It holds no secret: it may be logged.
type ServerVersion struct {
	Name                string // "ClickHouse"
	Major, Minor, Patch uint64
	// Revision is the native-protocol revision the server speaks; a
	// feature of the protocol is there when Revision reaches the revision
	// that introduced it.
	Revision uint64
}

func (v ServerVersion) String() string {
	return fmt.Sprintf("%s %d.%d.%d (protocol revision %d)", v.Name, v.Major, v.Minor, v.Patch, v.Revision)
}

// HasServerParams reports whether the server takes query parameters
// ({name:Type} in the SQL, the values sent beside it) over the native
// protocol. That arrived with protocol revision 54459, ClickHouse 22.8
// (22.7 servers report revision 54456, 22.8 ones 54460); 18.16 (revision
// 54412) has none, and there clickhouse-go's client-side "?" binding is the
// only way. The threshold is clickhouse-go's own constant: the driver
// sends the parameters only from that revision on, so both sides agree.
func (v ServerVersion) HasServerParams() bool {
	return v.Revision >= proto.DBMS_MIN_PROTOCOL_VERSION_WITH_PARAMETERS
}

// Server is the version of the server the Store talks to.
func (s *Store) Server() ServerVersion { return s.server }
