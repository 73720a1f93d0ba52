package control_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/store/storetest"
)

// readmeACL is the ACL rule the README gives riskd's Redis user (store's MinimalACL).
const readmeACL = "resetkeys ~riskd:* resetchannels -@all +ping +get +set +del +evalsha +eval +xadd +xread +xrevrange +scan +cluster|slots"

// TestRedisStoreWithinMinimalACL: the control store works as the ACL user the README defines, and Redis logs
// no command it denied.
func TestRedisStoreWithinMinimalACL(t *testing.T) {
	st, denied := openWithinACL(t)
	ctx := context.Background()
	for n := uint64(0); n < control.KeepVersions+2; n++ {
		if err := st.Append(ctx, n, control.Version{Document: "rules", Author: "a"}); err != nil {
			t.Fatalf("append %d: %v", n+1, err)
		}
	}
	if _, err := st.Heads(ctx, []string{"rules", "shadow", "lists", "exceptions"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "rules", control.KeepVersions+2); err != nil {
		t.Fatal(err)
	}
	if n := denied(); n != 0 {
		t.Fatalf("the ACL denied the control store %d commands", n)
	}
}

// openWithinACL opens the control store on a redis-server as the ACL user the README defines; denied counts the
// commands Redis refused that user since.
func openWithinACL(t *testing.T) (st *control.Redis, denied func() int) {
	t.Helper()
	acl := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(acl, []byte("user default on nopass ~* &* +@all\nuser riskd on >riskd-pw "+readmeACL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := storetest.StartRedisWith(t, storetest.Options{Args: []string{"--aclfile", acl}})
	st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{r.Addr}, Username: "riskd", Password: "riskd-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	admin := r.Client(t)
	return st, func() int {
		log, err := admin.Do(context.Background(), admin.B().AclLog().Count(10).Build()).ToArray()
		if err != nil {
			t.Fatal(err)
		}
		return len(log)
	}
}

// TestRedisStoreOverUnixSocket: the control store reaches a Redis on the same host by its Unix socket, as the
// state does (the same --redis), and keeps what it appends.
func TestRedisStoreOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "redis.sock")
	storetest.StartRedisWith(t, storetest.Options{Args: []string{"--unixsocket", sock, "--unixsocketperm", "700"}})
	st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{sock}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Append(ctx, 0, control.Version{Document: "rules", Author: "a"}); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Get(ctx, "rules", 1); err != nil || v.Author != "a" {
		t.Fatalf("read back %+v, %v", v, err)
	}
}
