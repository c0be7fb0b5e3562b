//go:build tools

// Only to make the etcd server part of this module's build list.
package tools

import _ "go.etcd.io/etcd/server/v3"
