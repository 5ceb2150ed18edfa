package services

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{"http://0.0.0.0:8081": "0.0.0.0:8081", "127.0.0.1:58081": "127.0.0.1:58081", "http://[::1]:8081": "[::1]:8081"} {
		got, err := listenAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"https://0.0.0.0:8081", "http://a:1,http://b:2", "http://"} {
		_, err := listenAddr(bad)
		assert.Error(t, err, bad)
	}
}
