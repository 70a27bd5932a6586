package helmrun

// What `helm harborha export` reads of a completed wrapper's options: it
// takes the template wrapper's arguments, and renders and writes them
// itself instead of running Helm with the post-renderer.

// HelmArgs are the arguments Complete left for Helm, in order.
func (o *Options) HelmArgs() []string { return o.helmArgs }

// Helm is the user's helm binary.
func (o *Options) Helm() string { return o.helm }
