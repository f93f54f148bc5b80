// Package all registers every kind of source: import it for its effect.
package all

import (
	_ "github.com/seatline/seatline/internal/azblobsrc" // --source azblob
	_ "github.com/seatline/seatline/internal/filesrc"   // --source file
	_ "github.com/seatline/seatline/internal/gcssrc"    // --source gcs
	_ "github.com/seatline/seatline/internal/kafkasrc"  // --source kafka
	_ "github.com/seatline/seatline/internal/s3src"     // --source s3
)
