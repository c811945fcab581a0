// Typed CDK constructs for cfn-sagemaker-autoscaling. The function ships inside this package as a prebuilt arm64
// zip (assets/bootstrap.zip): no Rust on the user's machine. Every construct synthesizes the properties the
// function validates (checked by `make test`: each synthesized resource goes through the function's own validation).
export * from './provider';
export * from './scaling';
export * from './endpoint';
