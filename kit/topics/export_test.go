package topics

import "time"

// SetRetryFor sets how long ReadToEnd retries, for a test; the returned
// func restores it.
func SetRetryFor(d time.Duration) (restore func()) {
	old := retryFor
	retryFor = d
	return func() { retryFor = old }
}
