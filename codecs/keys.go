package codecs

import (
	"fmt"
	"strconv"
)

// Key formats a row id as a record key. Every topic of the pipeline is
// keyed by a row id written as a decimal string ("42"): what Kafka Connect's
// StringConverter makes of the id that the ValueToKey + ExtractField$Key
// SMTs extract, what Goka's string keys are, and the bytes murmur2
// partitions on. One key format everywhere is what lets a Lookup find the
// row the CDC source wrote.
func Key(id int64) string { return strconv.FormatInt(id, 10) }

// ParseKey parses a record key written by Key.
func ParseKey(key string) (int64, error) {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("record key %q is not a decimal row id: %w", truncate(key, 64), err)
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
