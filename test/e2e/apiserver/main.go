// kube-apiserver for the e2e tests, built from the k8s.io/kubernetes module at
// the version pinned in go.mod (see test/e2e/build.ts). Nothing of our own:
// the official command, so tests run against the real thing.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
