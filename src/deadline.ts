/**
 * Settles as `promise` does, or as `onTimeout` says once `ms` have passed, whichever comes first.
 * `onTimeout` may return a fallback value or throw. The timer never outlives the race.
 */
export async function withDeadline<T, F = never>(promise: Promise<T>, ms: number, onTimeout: () => F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<F>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout())
      } catch (error) {
        reject(error)
      }
    }, ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
