/** The authenticated caller, as every layer below the API sees it. */
export interface Viewer {
  userId: string;
}
