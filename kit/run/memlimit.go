package run

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupLimits are where Linux says a process's memory limit is (cgroup v2,
// then v1).
var cgroupLimits = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// MemoryLimitFromCgroup sets Go's soft memory limit (GOMEMLIMIT) to 90 % of
// the process's cgroup memory limit (a container's), unless GOMEMLIMIT is
// set or there is no limit: the GC then works harder near the limit
// instead of the kernel killing the process. It returns the limit set, or
// 0.
func MemoryLimitFromCgroup() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := cgroupLimit(cgroupLimits)
	if limit <= 0 {
		return 0
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	return soft
}

// cgroupLimit is the first limit found in files, 0 for none ("max", or
// v1's page-rounded "unlimited").
func cgroupLimit(files []string) int64 {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<50 {
			return 0
		}
		return n
	}
	return 0
}
