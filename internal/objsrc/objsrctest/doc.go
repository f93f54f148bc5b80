// Package objsrctest is the test bed and the shared tests of the bucket
// sources (S3, Azure Blob, GCS): the same hostile corpus, kill -9
// backfill, shards, overwrite and follow-mode tests run against each
// store's real loopback server through testenv.Bucket, so a store adds
// only its server and one call to Run.
package objsrctest
