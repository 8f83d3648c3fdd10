// Resolve the extensionless relative imports of tsc's output the way a bundler does.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    if (!specifier.startsWith(".") || specifier.endsWith(".js")) throw error;
    return next(`${specifier}.js`, context);
  }
}
