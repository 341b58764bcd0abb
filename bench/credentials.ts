// The benchmark upstream's one account (the simulator's demo login: a password with @ & + %).
export const BENCH_USERNAME = 'demo'
export const BENCH_PASSWORD = 'Demo@Passw0rd&+%'
