package timeline

// The columnar fill, for the write benchmark (an external test: it opens
// its store through testenv, which imports this package).
var (
	AppendRows = appendRows
	InsertRows = insertRows
)
