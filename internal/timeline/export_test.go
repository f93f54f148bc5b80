package timeline

import "github.com/ClickHouse/clickhouse-go/v2/lib/driver"

// The columnar fill, for the write benchmark (an external test: it opens
// its store through testenv, which imports this package).
var InsertRows = seatEventTable.insert

func AppendRows(b driver.Batch, rows []Row) error { return seatEventTable.appendTo(b, rows) }
