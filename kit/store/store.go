package store

import (
	"github.com/lovoo/goka/storage"
)

// Builder is the storage of our Goka tables and views: Memory when dir is
// "", else LevelDB files under dir/<topic>.<partition> (Goka's default
// storage), which a restart resumes from at the stored offset.
func Builder(dir string) storage.Builder {
	if dir == "" {
		return MemoryBuilder()
	}
	return storage.DefaultBuilder(dir)
}
