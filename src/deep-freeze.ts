/**
 * Freezes a value and everything reachable from it, so that no module can change the configuration
 * another one reads. Meant for acyclic data such as a Config.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
